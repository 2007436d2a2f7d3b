//! Reading many instance headers: a few at a time, stopping on abort, failures described without identifiers.
// Shared by `decide` (a series from the spool) and `explain` (files an operator points at).

/** Instance headers read at the same time. */
export const PARALLEL_READS = 8;

/** Runs `fn` over `items` with at most `limit` at a time; stops taking new items once `signal` aborts. */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal.throwIfAborted();
      const index = next++;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  signal.throwIfAborted();
}

/** A short, identifier-free description of a read failure (paths and messages may carry UIDs). */
export function failureOf(err: unknown): string {
  if (!(err instanceof Error)) {
    return 'unknown error';
  }
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.name : `${err.name} ${code}`;
}
