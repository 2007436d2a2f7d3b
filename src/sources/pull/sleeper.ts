//! A runner's wait for its next due row: on the clock, so that fake-clock tests drive it, and cut short when something changes.
import type { Clock } from '../../clock.ts';

/** Resolves at `at` (null: only when woken), or earlier when woken; a wake with no sleeper pending skips the next sleep. */
export interface Sleeper {
  sleep(at: number | null): Promise<void>;
  wake(): void;
}

export function createSleeper(clock: Clock): Sleeper {
  let wakeUp: (() => void) | null = null;
  let woken = false;
  return {
    sleep(at) {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const t =
          at === null
            ? null
            : clock.setTimeout(
                () => {
                  finish();
                },
                Math.max(0, at - clock.now()),
              );
        const finish = (): void => {
          t?.cancel();
          wakeUp = null;
          resolve();
        };
        wakeUp = finish;
      });
    },
    wake() {
      if (wakeUp) {
        wakeUp();
      } else {
        woken = true;
      }
    },
  };
}
