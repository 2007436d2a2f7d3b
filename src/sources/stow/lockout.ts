//! Wrong bearer tokens from one address: after a few within a window, that address is refused (429) for a while.
// Tokens are long and random, but a listener on a hospital network is still worth guessing at; this
// makes guessing slow and visible (one warning per lockout) without locking out a sender whose
// token was just rotated for more than a minute. Memory is bounded: old entries are dropped.
import type { Clock } from '../../contracts/component.ts';

/** Wrong tokens from one address within WINDOW_MS that start a lockout. */
export const MAX_FAILURES = 10;
export const WINDOW_MS = 60_000;
/** How long a locked-out address is refused. */
export const LOCK_MS = 60_000;
/** Addresses remembered at most; beyond it the stalest are forgotten. */
const MAX_TRACKED = 10_000;

interface Entry {
  failures: number;
  firstAt: number;
  lockedUntil: number;
}

export interface Lockout {
  /** Milliseconds `ip` is still locked out for, or 0. */
  lockedFor(ip: string): number;
  /** Records a wrong token; true when it starts a lockout. */
  failed(ip: string): boolean;
  /** A right token clears the address's failures. */
  succeeded(ip: string): void;
}

export function createLockout(clock: Clock): Lockout {
  const entries = new Map<string, Entry>();
  function prune(now: number): void {
    for (const [ip, e] of entries) {
      if (e.lockedUntil <= now && now - e.firstAt > WINDOW_MS) {
        entries.delete(ip);
      }
    }
    // Still too many (a flood of addresses): forget the oldest, in insertion order.
    for (const ip of entries.keys()) {
      if (entries.size <= MAX_TRACKED) {
        break;
      }
      entries.delete(ip);
    }
  }
  return {
    lockedFor(ip) {
      const e = entries.get(ip);
      return e ? Math.max(0, e.lockedUntil - clock.now()) : 0;
    },
    failed(ip) {
      const now = clock.now();
      if (entries.size >= MAX_TRACKED) {
        prune(now);
      }
      let e = entries.get(ip);
      if (!e || now - e.firstAt > WINDOW_MS) {
        e = { failures: 0, firstAt: now, lockedUntil: e?.lockedUntil ?? 0 };
        entries.set(ip, e);
      }
      e.failures++;
      if (e.failures < MAX_FAILURES) {
        return false;
      }
      e.lockedUntil = now + LOCK_MS;
      e.failures = 0;
      e.firstAt = now;
      return true;
    },
    succeeded(ip) {
      entries.delete(ip);
    },
  };
}
