//! Runs an async function over a list, a bounded number at a time, stopping cleanly at the first failure.
/** Runs `fn` over `items`, `limit` at a time. On a failure no new item starts, the ones in flight
 *  finish (nothing is left half-done behind the caller's back), then the first error is thrown. */
export async function forEachLimit<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  const failures: unknown[] = [];
  const worker = async (): Promise<void> => {
    while (next < items.length && !failures.length) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failures.push(err);
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failures.length) {
    throw failures[0];
  }
}
