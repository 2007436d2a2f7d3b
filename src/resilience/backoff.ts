//! Capped exponential backoff with jitter for delivery retries.
// Jitter spreads retries of many jobs that failed together (XNAT restart, full disk) so they do
// not come back as one thundering herd; the cap keeps a late retry within operator patience.

/** How the retry delay grows. */
export interface BackoffOptions {
  /** Delay ceiling of the first retry, in milliseconds; doubles with each further attempt. */
  readonly baseMs: number;
  /** Upper bound of any delay, in milliseconds. */
  readonly maxMs: number;
  /**
   * 'equal' (default): half the ceiling plus a random half, so a retry never comes back at once.
   * 'full': anywhere between 0 and the ceiling (spreads best; may retry immediately).
   */
  readonly jitter?: 'full' | 'equal';
}

// 2^52 is exact in a double; beyond it the ceiling is the cap anyway.
const MAX_EXPONENT = 52;

/**
 * The delay before retry number `attempt` (1 = the retry after the first failed attempt), in ms.
 * Ceiling = min(maxMs, baseMs × 2^(attempt−1)); the result is a whole number in [0, maxMs].
 * Pure: `random` (default Math.random, range [0, 1)) is the only source of variation.
 */
export function backoffMs(attempt: number, o: BackoffOptions, random: () => number = Math.random): number {
  const exponent = Math.min(Math.max(Math.floor(attempt), 1) - 1, MAX_EXPONENT);
  const ceiling = Math.max(0, Math.min(o.maxMs, o.baseMs * 2 ** exponent));
  const r = Math.min(Math.max(random(), 0), 1);
  const delay = o.jitter === 'full' ? ceiling * r : ceiling / 2 + (ceiling / 2) * r;
  return Math.min(Math.round(delay), Math.max(0, o.maxMs));
}
