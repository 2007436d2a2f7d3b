//! The series store's contract: batches the assembler completes, associations a restart finds open, snapshot rows.
// SQLite implementation: sqlite/series.ts.
import type { SnapshotInstance } from '../contracts/series.ts';

/** The series row of a snapshot: ids, batch, modality, and the routing decision when there is one. */
export interface SnapshotSeriesRow {
  readonly seriesId: number;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly batch: number;
  readonly modality: string | null;
  readonly project: string | null;
  readonly sessionStudyUid: string | null;
}

/** An instance row of a snapshot: a SnapshotInstance whose `path` is still relative to the spool directory. */
export type SnapshotInstanceRow = SnapshotInstance;

export interface SeriesStore {
  /**
   * Completes, in one transaction, every receiving batch whose last instance arrived at or before
   * `quietBefore` and that no open association nor a row not yet durable holds; records
   * `series.completed` for each.
   */
  completeDue(quietBefore: number, now: number): Promise<{ id: number; batch: number }[]>;
  /**
   * Completes now, without waiting for the quiet period, the receiving batches of the named series
   * of `studyInstanceUid` that no open association nor a row not yet durable holds (a source that
   * knows every expected instance has arrived, e.g. a pull); records `series.completed` with
   * `early: true` for each. The others are left as they are.
   */
  completeNamed(
    studyInstanceUid: string,
    seriesInstanceUids: readonly string[],
    now: number,
  ): Promise<{ id: number; batch: number; seriesInstanceUid: string }[]>;
  /** The oldest last-instance time of a receiving batch no association holds open, or null. */
  oldestQuiet(): Promise<number | null>;
  /**
   * Closes the associations the previous process left open as 'interrupted'; a watched-folder drop
   * that was being read keeps its association (the restarted source resumes the drop under it).
   */
  closeInterrupted(now: number, node: string | null): Promise<number>;
  /** State and counters of batch `seriesId`, or undefined when it does not exist. */
  get(seriesId: number): Promise<{ state: string; files: number; bytes: number } | undefined>;
  /** The series row of batch `seriesId` (undefined when there is none) and its instances in delivery order. */
  snapshotRows(seriesId: number): Promise<{ series: SnapshotSeriesRow | undefined; instances: SnapshotInstanceRow[] }>;
}
