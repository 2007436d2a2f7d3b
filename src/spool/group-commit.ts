//! Group commit for the intake: instance rows committed together, and durable marks written later.
// Part of the acknowledgement path (ADR 0013): rows are committed marked not durable, and the mark
// that their file's fsync completed rides on a later transaction, never on anyone's acknowledgement.
import type { InstanceRecord, InstanceStore, RecordOutcome } from '../store/sqlite/instance-record.ts';
import type { Logger } from '../log.ts';

/** How long rows whose files became durable wait for a group commit to carry their mark. */
const MARK_DURABLE_AFTER_MS = 50;

export interface GroupCommit {
  /** Commits a row with whichever others arrive in the same turn of the event loop. */
  readonly recordGrouped: (rec: InstanceRecord) => Promise<RecordOutcome>;
  /** Marks a committed row durable in the next group's transaction, or alone a little later. */
  readonly markLater: (id: number) => void;
  /** Writes the durable marks still waiting now (before the database closes). */
  readonly markNow: () => void;
}

export function createGroupCommit(instances: InstanceStore, log: Logger): GroupCommit {
  // Group commit: instances whose files are fsynced while a commit runs wait for the next turn of
  // the event loop and are committed together, one WAL fsync for all (synchronous=FULL still holds
  // for each: nobody is answered before the transaction holding its row has committed).
  const queued: { rec: InstanceRecord; resolve: (o: RecordOutcome) => void; reject: (e: unknown) => void }[] = [];
  let flushScheduled = false;
  const MAX_GROUP = 256;
  // Rows whose files became durable since the last commit: marked in the next group's transaction,
  // or alone after MARK_DURABLE_AFTER_MS (no WAL fsync of their own on anyone's acknowledgement path).
  let toMark: number[] = [];
  let markTimer: NodeJS.Timeout | null = null;
  // Unreferenced: a process that is ending does not wait for them (flushDurable runs before the
  // database closes, and start-up reconciliation checks any row whose mark was lost).
  const schedule = (ms: number): void => {
    markTimer ??= setTimeout(markNow, ms).unref();
  };
  function markLater(id: number): void {
    toMark.push(id);
    schedule(MARK_DURABLE_AFTER_MS);
  }
  function markNow(): void {
    if (markTimer) {
      clearTimeout(markTimer);
    }
    markTimer = null;
    if (!toMark.length) {
      return;
    }
    const ids = toMark;
    toMark = [];
    try {
      instances.markDurable(ids);
    } catch (err) {
      // Nothing is lost: acknowledged rows stay marked not durable, and their batches wait; retried,
      // and start-up reconciliation checks them if the process ends first.
      log.error({ err, rows: ids.length }, 'Marking spooled instances durable failed; retrying.');
      toMark = ids.concat(toMark);
      schedule(1000);
    }
  }
  function flush(): void {
    flushScheduled = false;
    const group = queued.splice(0, MAX_GROUP);
    if (queued.length) {
      flushScheduled = true;
      setImmediate(flush);
    }
    const marks = toMark;
    toMark = [];
    let results: (RecordOutcome | Error)[];
    try {
      results = instances.recordMany(
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
  function recordGrouped(rec: InstanceRecord): Promise<RecordOutcome> {
    return new Promise((resolve, reject) => {
      queued.push({ rec, resolve, reject });
      if (!flushScheduled) {
        flushScheduled = true;
        setImmediate(flush);
      }
    });
  }

  return { recordGrouped, markLater, markNow };
}
