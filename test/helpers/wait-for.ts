//! Polls a condition in integration tests instead of sleeping a fixed time.

/** Resolves when `predicate` is true; rejects with `message` after `timeoutMs`. */
export async function waitFor(
  predicate: () => boolean | Promise<boolean>,
  message: string,
  timeoutMs = 10_000,
  intervalMs = 50,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (await predicate()) {
      return;
    }
    if (Date.now() > until) {
      throw new Error(`Timed out after ${String(timeoutMs)} ms waiting for: ${message}`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}
