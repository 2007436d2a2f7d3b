//! A fake Clock for unit tests: time moves only when the test calls advance().
import type { Clock } from '../../src/clock.ts';

export interface FakeClock extends Clock {
  /** Moves time forward by `ms`, firing every timer that falls due, in due order (also ones they schedule). */
  advance(ms: number): void;
  /** Timers scheduled and not yet fired or cancelled. */
  readonly pending: number;
}

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
}

/** A fake clock starting at `start` (epoch ms). */
export function createFakeClock(start = 1_700_000_000_000): FakeClock {
  let now = start;
  let seq = 0;
  const timers = new Set<Timer>();

  function nextDue(limit: number): Timer | undefined {
    let best: Timer | undefined;
    for (const t of timers) {
      if (t.at <= limit && (!best || t.at < best.at || (t.at === best.at && t.seq < best.seq))) {
        best = t;
      }
    }
    return best;
  }

  return {
    now: () => now,
    setTimeout(fn, ms) {
      const t: Timer = { at: now + Math.max(0, ms), seq: seq++, fn };
      timers.add(t);
      return {
        cancel: () => {
          timers.delete(t);
        },
      };
    },
    advance(ms) {
      const target = now + ms;
      for (let t = nextDue(target); t; t = nextDue(target)) {
        timers.delete(t);
        now = Math.max(now, t.at);
        t.fn();
      }
      now = target;
    },
    get pending() {
      return timers.size;
    },
  };
}
