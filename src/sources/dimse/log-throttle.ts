//! Bounds the warnings one peer can cause: the first of a kind is logged, repeats are counted.
// Every refused connection and protocol violation deserves a line, but a flood from one address
// must not fill the disk with them: per key (peer address + code) at most one line per window,
// carrying how many were suppressed since the last one (the rest go to debug).
import type { Clock } from '../../clock.ts';

export interface LogThrottle {
  /** Whether to log this occurrence of `key` at its level, and how many were suppressed before it. */
  take(key: string): { readonly log: boolean; readonly suppressed: number };
}

/** Keys remembered at most; beyond it the oldest window is forgotten (a flood from many addresses). */
const MAX_KEYS = 10_000;

export function createLogThrottle(clock: Clock, windowMs: number): LogThrottle {
  const seen = new Map<string, { until: number; suppressed: number }>();
  return {
    take(key) {
      const now = clock.now();
      const s = seen.get(key);
      if (s && now < s.until) {
        s.suppressed++;
        return { log: false, suppressed: s.suppressed };
      }
      const suppressed = s?.suppressed ?? 0;
      seen.delete(key);
      if (seen.size >= MAX_KEYS) {
        const oldest = seen.keys().next();
        if (!oldest.done) {
          seen.delete(oldest.value);
        }
      }
      seen.set(key, { until: now + windowMs, suppressed: 0 });
      return { log: true, suppressed };
    },
  };
}
