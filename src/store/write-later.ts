//! Database writes that must happen but need not happen now: retried until they succeed.
// A socket closing or a drop finishing has to be recorded (the association row keeps its series
// receiving until it is closed), but the event that triggers it has nobody to report a failure to:
// a throw there is an unhandled rejection that ends the process. With the disk full, SQLite refuses
// every write (SQLITE_FULL); the write is kept in memory and tried again until space returns. Should
// the process die meanwhile, start-up recovery closes what is still open, so nothing is lost.
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';

export interface WriteLater {
  /**
   * Starts `write` now, or behind the writes still waiting; never throws or rejects. A write that
   * fails is logged once and retried every `retryMs` until it succeeds.
   */
  run(what: string, write: () => Promise<unknown>): void;
  /** Writes not yet done: waiting for a retry, or behind one, or under way. */
  readonly pending: number;
  /** Resolves once no write is under way (a test's or shutdown's barrier); failed ones keep waiting. */
  settled(): Promise<void>;
  /** Tries every waiting write once more (shutdown), then stops retrying. */
  stop(): Promise<void>;
}

interface Waiting {
  readonly what: string;
  readonly write: () => Promise<unknown>;
  /** It has failed before: its success is worth a log line. */
  failed: boolean;
}

export function createWriteLater(o: { clock: Clock; log: Logger; retryMs?: number }): WriteLater {
  const retryMs = o.retryMs ?? 1000;
  const queue: Waiting[] = [];
  let timer: { cancel(): void } | null = null;
  let stopped = false;
  /** The drain under way: one at a time, so the writes keep their order. */
  let draining: Promise<void> | null = null;

  /** Runs the waiting writes in order until one fails (false; it is retried after `retryMs`). */
  async function drainQueue(): Promise<boolean> {
    for (let next = queue[0]; next; next = queue[0]) {
      try {
        await next.write();
      } catch (err) {
        if (!next.failed) {
          next.failed = true;
          o.log.error({ err, what: next.what }, 'A database write failed; it is retried until it succeeds.');
        }
        // Still failing: keep it, in order, for the next turn.
        schedule();
        return false;
      }
      queue.shift();
      if (next.failed) {
        o.log.info({ what: next.what, waiting: queue.length }, 'A postponed database write succeeded.');
      }
    }
    return true;
  }

  function drain(): void {
    timer = null;
    if (draining) {
      // The drain under way may have just failed: look again on the next turn.
      schedule();
      return;
    }
    draining = drainQueue().then((emptied) => {
      draining = null;
      // A write queued between the last one finishing and this callback still has to run.
      if (emptied && queue.length) {
        drain();
      }
    });
  }

  function cancelTimer(): void {
    timer?.cancel();
    timer = null;
  }

  function schedule(): void {
    if (!timer && !stopped) {
      timer = o.clock.setTimeout(drain, retryMs);
    }
  }

  return {
    run(what, write) {
      queue.push({ what, write, failed: false });
      // Behind earlier failures: their order matters (an association closed after it was opened).
      // (a drain under way takes it in its turn).
      if (!timer && !draining) {
        drain();
      }
    },
    get pending() {
      return queue.length;
    },
    async settled() {
      while (draining) {
        await draining;
      }
    },
    async stop() {
      stopped = true;
      cancelTimer();
      await this.settled();
      drain();
      await this.settled();
      cancelTimer();
    },
  };
}
