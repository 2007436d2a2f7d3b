//! Erasing the patient data of pulls whose retention ended: once at start, then hourly (sooner with a shorter retention).
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import type { PullLedger } from '../../contracts/pull-ledger.ts';

const PURGE_EVERY_MS = 3_600_000;

export interface Purger {
  /** Erases now; a failure is thrown. */
  purge(): Promise<void>;
  /** Erases periodically until `stop` (a failure is logged and tried again at the next period). */
  start(): void;
  stop(): void;
}

export function createPurger(d: { ledger: PullLedger; clock: Clock; log: Logger; retentionMs: number }): Purger {
  let timer: { cancel(): void } | null = null;
  let stopped = false;
  async function purge(): Promise<void> {
    const n = await d.ledger.purgeExpired(d.clock.now());
    if (n > 0) {
      d.log.info({ pulls: n }, 'Patient data of ended pulls erased.');
    }
  }
  function schedule(): void {
    timer = d.clock.setTimeout(
      () => {
        void purge()
          .catch((err: unknown) => {
            d.log.error({ err }, 'Erasing patient data of ended pulls failed.');
          })
          .finally(() => {
            if (!stopped) {
              schedule();
            }
          });
      },
      Math.min(PURGE_EVERY_MS, Math.max(1000, d.retentionMs)),
    );
  }
  return {
    purge,
    start: schedule,
    stop() {
      stopped = true;
      timer?.cancel();
    },
  };
}
