//! Time as an injected dependency, so completion timers and backoff are testable without sleeps.

/** Milliseconds since the epoch, plus timers that a fake clock can drive. */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): { cancel(): void };
}

/** The wall clock used by the daemon. Timers are unref'd: they never keep the process alive. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return {
      cancel: () => {
        clearTimeout(t);
      },
    };
  },
};
