//! Group commit for the intake: instance rows committed together, and durable marks written later.
// Part of the acknowledgement path (ADR 0013): rows are committed marked not durable, and the mark
// that their file's fsync completed rides on a later transaction, never on anyone's acknowledgement.
import type { InstanceRecord, InstanceStore, RecordOutcome } from '../store/instances.ts';
import type { Logger } from '../log.ts';

/** How long rows whose files became durable wait for a group commit to carry their mark. */
const MARK_DURABLE_AFTER_MS = 50;

export interface GroupCommit {
  /** Commits a row with whichever others arrive in the same turn of the event loop. */
  readonly recordGrouped: (rec: InstanceRecord) => Promise<RecordOutcome>;
  /** Marks a committed row durable in the next group's transaction, or alone a little later. */
  readonly markLater: (id: number) => void;
  /**
   * Writes the durable marks still waiting now (before the database closes); resolves once they
   * and every group commit started before are written (or failed: they are then retried).
   */
  readonly markNow: () => Promise<void>;
}

export function createGroupCommit(instances: InstanceStore, log: Logger): GroupCommit {
  // Group commit: instances whose files are fsynced while a commit runs wait until it ends and are
  // committed together, one WAL fsync for all (synchronous=FULL still holds for each: nobody is
  // answered before the transaction holding its row has committed).
  const queued: { rec: InstanceRecord; resolve: (o: RecordOutcome) => void; reject: (e: unknown) => void }[] = [];
  let flushScheduled = false;
  const MAX_GROUP = 256;
  // Rows whose files became durable since the last commit: marked in the next group's transaction,
  // or alone after MARK_DURABLE_AFTER_MS (no WAL fsync of their own on anyone's acknowledgement path).
  let toMark: number[] = [];
  let markTimer: NodeJS.Timeout | null = null;
  // The group commits and mark writes, one after another: a group is taken from the queue only when
  // the write before it has ended, so what arrives meanwhile (the store waiting its turn on the
  // connection) joins one group instead of queueing a transaction each. No write rejects.
  let tail: Promise<void> = Promise.resolve();
  const inTurn = (write: () => Promise<void>): Promise<void> =>
    (tail = tail.then(write).catch((err: unknown) => {
      // Not expected (each write handles its own failure); caught so the chain never stops.
      log.error({ err }, 'A group commit step failed unexpectedly.');
    }));
  // Unreferenced: a process that is ending does not wait for them (flushDurable runs before the
  // database closes, and start-up reconciliation checks any row whose mark was lost).
  const schedule = (ms: number): void => {
    markTimer ??= setTimeout(() => {
      void markNow();
    }, ms).unref();
  };
  function markLater(id: number): void {
    toMark.push(id);
    schedule(MARK_DURABLE_AFTER_MS);
  }
  async function writeMarks(): Promise<void> {
    if (!toMark.length) {
      return;
    }
    const ids = toMark;
    toMark = [];
    try {
      await instances.markDurable(ids);
    } catch (err) {
      // Nothing is lost: acknowledged rows stay marked not durable, and their batches wait; retried,
      // and start-up reconciliation checks them if the process ends first.
      log.error({ err, rows: ids.length }, 'Marking spooled instances durable failed; retrying.');
      toMark = ids.concat(toMark);
      schedule(1000);
    }
  }
  function markNow(): Promise<void> {
    if (markTimer) {
      clearTimeout(markTimer);
    }
    markTimer = null;
    return inTurn(writeMarks);
  }
  async function commitGroup(): Promise<void> {
    const group = queued.splice(0, MAX_GROUP);
    if (queued.length) {
      scheduleFlush();
    }
    if (!group.length) {
      return;
    }
    const marks = toMark;
    toMark = [];
    let results: (RecordOutcome | Error)[];
    try {
      results = await instances.recordMany(
        group.map((g) => g.rec),
        marks,
      );
    } catch (err) {
      toMark = marks.concat(toMark);
      if (toMark.length) {
        schedule(MARK_DURABLE_AFTER_MS);
      }
      for (const g of group) {
        g.reject(err);
      }
      return;
    }
    results.forEach((r, i) => {
      const g = group[i];
      if (!g) {
        return;
      }
      if (r instanceof Error) {
        g.reject(r);
      } else {
        g.resolve(r);
      }
    });
  }
  function flush(): void {
    flushScheduled = false;
    void inTurn(commitGroup);
  }
  function scheduleFlush(): void {
    if (!flushScheduled) {
      flushScheduled = true;
      setImmediate(flush);
    }
  }
  function recordGrouped(rec: InstanceRecord): Promise<RecordOutcome> {
    return new Promise((resolve, reject) => {
      queued.push({ rec, resolve, reject });
      scheduleFlush();
    });
  }

  return { recordGrouped, markLater, markNow };
}
