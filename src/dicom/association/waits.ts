//! The requestor's one pending wait (A-ASSOCIATE-AC, a message, A-RELEASE-RP) and its deadline: nobody waits on a peer for ever.
// An idle wait (a Q/R response) has its deadline start again with every PDU from the peer, and none
// at all while the peer waits for us (we store its instance); the others run from when they begin.

export type WaitKind = 'open' | 'message' | 'release';

export interface Waits<E extends Error> {
  /** Waits for `kind`; the deadline starts now, or (`armLater`) at the next `arm`. Rejects at once after a failure. */
  wait<T>(kind: WaitKind, what: string, ms: number, o?: { idle?: boolean; armLater?: boolean }): Promise<T>;
  /** Resolves the pending wait if it is of `kind`; false otherwise. */
  settle(kind: WaitKind, value: unknown): boolean;
  /** (Re)starts the pending wait's deadline. */
  arm(): void;
  /** The peer sent a PDU: an idle wait's deadline starts again. */
  activity(): void;
  /** On while the peer waits for us: an idle wait has no deadline. */
  holdIdle(on: boolean): void;
  /** Rejects the pending wait with the association's failure. */
  reject(err: E): void;
}

interface Waiter<E extends Error> {
  readonly kind: WaitKind;
  readonly what: string;
  readonly ms: number;
  readonly idle: boolean;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: E) => void;
  timer: NodeJS.Timeout | undefined;
}

/** `failure`: the association's failure so far; `timeout` fails it ("no A-RELEASE-RP within 5000 ms"). */
export function createWaits<E extends Error>(failure: () => E | null, timeout: (message: string) => void): Waits<E> {
  let waiter: Waiter<E> | null = null;
  let idleHeld = false;

  function arm(): void {
    const w = waiter;
    if (!w) {
      return;
    }
    clearTimeout(w.timer);
    if (w.idle && idleHeld) {
      return;
    }
    w.timer = setTimeout(() => {
      timeout(`no ${w.what} within ${String(w.ms)} ms`);
    }, w.ms);
  }

  return {
    wait<T>(kind: WaitKind, what: string, ms: number, o: { idle?: boolean; armLater?: boolean } = {}): Promise<T> {
      const failed = failure();
      if (failed) {
        return Promise.reject(failed);
      }
      return new Promise<T>((resolve, reject) => {
        waiter = {
          kind,
          what,
          ms,
          idle: o.idle ?? false,
          resolve: resolve as (v: unknown) => void,
          reject,
          timer: undefined,
        };
        if (!o.armLater) {
          arm();
        }
      });
    },
    settle(kind, value) {
      const w = waiter;
      if (w?.kind !== kind) {
        return false;
      }
      waiter = null;
      clearTimeout(w.timer);
      w.resolve(value);
      return true;
    },
    arm,
    activity() {
      if (waiter?.idle) {
        arm();
      }
    },
    holdIdle(on) {
      idleHeld = on;
      arm();
    },
    reject(err) {
      const w = waiter;
      waiter = null;
      if (w) {
        clearTimeout(w.timer);
        w.reject(err);
      }
    },
  };
}
