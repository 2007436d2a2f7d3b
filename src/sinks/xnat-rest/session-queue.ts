//! One upload at a time per XNAT session: the series of one session are sent one after another.
// XNAT files every upload of a study and session label into one prearchive row and archives it
// when the row has been idle; two uploads of one session at once race that: the second may find
// the row already archiving, or be archived with the first and refused for "matching files", and
// its series is then not in the session. Series of different sessions still go in parallel.

export interface SessionQueue {
  /** Runs `fn` once every earlier call for `session` has settled. */
  run<T>(session: string, fn: () => Promise<T>): Promise<T>;
}

export function createSessionQueue(): SessionQueue {
  const tails = new Map<string, Promise<unknown>>();
  return {
    run(session, fn) {
      const previous = tails.get(session) ?? Promise.resolve();
      const result = previous.then(fn, fn);
      const tail = result.then(
        () => undefined,
        () => undefined,
      );
      tails.set(session, tail);
      void tail.then(() => {
        // The last in line leaves no entry behind: the map holds only sessions in flight.
        if (tails.get(session) === tail) {
          tails.delete(session);
        }
      });
      return result;
    },
  };
}
