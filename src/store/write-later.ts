//! Database writes that must happen but need not happen now: retried until they succeed.
// A socket closing or a drop finishing has to be recorded (the association row keeps its series
// receiving until it is closed), but the event that triggers it has nobody to report a failure to:
// a throw there is an unhandled rejection that ends the process. With the disk full, SQLite refuses
// every write (SQLITE_FULL); the write is kept in memory and tried again until space returns. Should
// the process die meanwhile, start-up recovery closes what is still open, so nothing is lost.
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface WriteLater {
  /** Runs `write` now; if it throws, logs once and retries it every `retryMs` until it succeeds. */
  run(what: string, write: () => void): void;
  /** Writes still waiting for a retry. */
  readonly pending: number;
  /** Tries every waiting write once more (shutdown), then stops retrying. */
  stop(): void;
}

export function createWriteLater(o: { clock: Clock; log: Logger; retryMs?: number }): WriteLater {
  const retryMs = o.retryMs ?? 1000;
  const queue: { what: string; write: () => void }[] = [];
  let timer: { cancel(): void } | null = null;
  let stopped = false;

  function drain(): void {
    timer = null;
    while (queue.length) {
      const next = queue[0];
      if (!next) {
        break;
      }
      try {
        next.write();
      } catch {
        // Still failing (the first failure was logged): keep it, in order, for the next turn.
        schedule();
        return;
      }
      queue.shift();
      o.log.info({ what: next.what, waiting: queue.length }, 'A postponed database write succeeded.');
    }
  }

  function schedule(): void {
    if (!timer && !stopped) {
      timer = o.clock.setTimeout(drain, retryMs);
    }
  }

  return {
    run(what, write) {
      // Behind earlier failures: their order matters (an association closed after it was opened).
      if (queue.length === 0) {
        try {
          write();
          return;
        } catch (err) {
          o.log.error({ err, what }, 'A database write failed; it is retried until it succeeds.');
        }
      }
      queue.push({ what, write });
      schedule();
    },
    get pending() {
      return queue.length;
    },
    stop() {
      timer?.cancel();
      drain();
      timer?.cancel();
      timer = null;
      stopped = true;
    },
  };
}
