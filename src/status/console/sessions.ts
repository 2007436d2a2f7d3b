//! Signed-in console sessions (in memory) and the sign-in throttle.
// Sessions live in memory: a restart signs everyone out, which is acceptable for an admin console
// and keeps session secrets out of the database. Ids are 256-bit random values; a sign-in always
// makes a new id (no fixation). Idle and absolute lifetimes bound a forgotten browser.
import { randomBytes } from 'node:crypto';
import type { Clock } from '../../clock.ts';

export interface Session {
  readonly id: string;
  readonly who: string;
  readonly createdAt: number;
  lastSeenAt: number;
}

export interface SessionStore {
  /** The live session with this id (its idle timer restarted), or null. */
  get(id: string | undefined): Session | null;
  create(who: string): Session;
  destroy(id: string | undefined): void;
}

/** A new random token (256 bits, base64url): session ids and CSRF tokens. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * @param o.idleMs a session unused this long ends; o.maxMs ends it whatever its use; o.max caps how
 *   many are kept (the oldest goes first), so sign-ins cannot grow memory without bound.
 */
export function createSessionStore(clock: Clock, o: { idleMs: number; maxMs: number; max?: number }): SessionStore {
  const sessions = new Map<string, Session>();
  const max = o.max ?? 1000;
  const alive = (s: Session, now: number): boolean => now - s.lastSeenAt < o.idleMs && now - s.createdAt < o.maxMs;
  return {
    get(id) {
      if (!id) {
        return null;
      }
      const s = sessions.get(id);
      if (!s) {
        return null;
      }
      const now = clock.now();
      if (!alive(s, now)) {
        sessions.delete(id);
        return null;
      }
      s.lastSeenAt = now;
      return s;
    },
    create(who) {
      const now = clock.now();
      for (const [id, s] of sessions) {
        if (!alive(s, now)) {
          sessions.delete(id);
        }
      }
      while (sessions.size >= max) {
        const oldest = sessions.keys().next().value;
        if (oldest === undefined) {
          break;
        }
        sessions.delete(oldest);
      }
      const s: Session = { id: newToken(), who, createdAt: now, lastSeenAt: now };
      sessions.set(s.id, s);
      return s;
    },
    destroy(id) {
      if (id) {
        sessions.delete(id);
      }
    },
  };
}

export interface Throttle {
  /** Milliseconds until `key` may try again (0: now). */
  waitMs(key: string): number;
  failed(key: string): void;
  succeeded(key: string): void;
}

/** After `max` failures within `windowMs`, a key (a peer address) waits until the window has passed. */
export function createThrottle(clock: Clock, o: { max: number; windowMs: number }): Throttle {
  const failures = new Map<string, number[]>();
  const recent = (key: string): number[] => {
    const now = clock.now();
    const list = (failures.get(key) ?? []).filter((t) => now - t < o.windowMs);
    if (list.length) {
      failures.set(key, list);
    } else {
      failures.delete(key);
    }
    return list;
  };
  return {
    waitMs(key) {
      const list = recent(key);
      const first = list[0];
      return list.length >= o.max && first !== undefined ? first + o.windowMs - clock.now() : 0;
    },
    failed(key) {
      const list = recent(key);
      list.push(clock.now());
      // Only the newest `max` matter; older ones would leave the window first anyway.
      failures.set(key, list.slice(-o.max));
    },
    succeeded(key) {
      failures.delete(key);
    },
  };
}
