//! Finite retries for a channel's send, waiting on the injected clock (doubling delays).
import type { Clock } from '../clock.ts';

/** Thrown by an attempt; `retryable` false ends the retries at once (a 4xx, refused credentials). */
export class SendError extends Error {
  override readonly name = 'SendError';
  readonly retryable: boolean;
  constructor(message: string, retryable: boolean, cause?: unknown) {
    super(message, { cause });
    this.retryable = retryable;
  }
}

const sleep = (clock: Clock, ms: number): Promise<void> =>
  new Promise((resolve) => {
    clock.setTimeout(resolve, ms);
  });

/**
 * Runs `attempt` until it succeeds, fails for good, or `retries` retries are used; resolves with the
 * number of attempts made, rejects with the last error.
 */
export async function withRetries(
  clock: Clock,
  o: { retries: number; retryDelayMs: number },
  attempt: () => Promise<void>,
): Promise<number> {
  for (let n = 0; ; n++) {
    try {
      await attempt();
      return n + 1;
    } catch (err) {
      const retryable = !(err instanceof SendError) || err.retryable;
      if (!retryable || n >= o.retries) {
        throw err;
      }
      await sleep(clock, o.retryDelayMs * 2 ** n);
    }
  }
}
