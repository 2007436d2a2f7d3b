//! What the intake hands the instance store (an instance row to record) and what the store answers and promises.
import type { SourceId, SeriesState } from '../events.ts';
import type { LookupDigest } from './find-index.ts';

export interface InstanceRecord {
  readonly studyUid: string;
  readonly seriesUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  readonly instanceNumber: number | null;
  readonly modality: string | null;
  readonly path: string;
  readonly size: number;
  readonly datasetSha256: string;
  readonly source: SourceId;
  readonly associationId: number | null;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
  readonly origin: string | null;
  readonly at: number;
  /** Keyed digests of the instance's PatientID and AccessionNumber, recorded for its batch (find). */
  readonly lookup?: readonly LookupDigest[] | undefined;
  /** False: the spool file's fsync is still running (ADR 0013); the row is marked durable = 0 until
   *  `markDurable`, and its batch cannot complete. Absent: durable already. */
  readonly durable?: boolean;
}

/**
 * Refused for a row whose file is not durable yet: it would replace, in place, a version already
 * acknowledged, which a crash before the fsync would then lose. The caller waits for its fsync and
 * records it again as durable.
 */
export class NeedsDurableFile extends Error {
  override readonly name = 'NeedsDurableFile';
}

/** A row whose file did not become durable (fsync failed, or found torn at start-up). */
export interface DroppedInstance {
  readonly id: number;
  readonly path: string;
}

export type RecordOutcome =
  | {
      kind: 'stored';
      instanceId: number;
      seriesId: number;
      batch: number;
      newBatch: { from: SeriesState | null } | null;
    }
  | { kind: 'duplicate'; instanceId: number; seriesId: number }
  | {
      kind: 'replaced';
      instanceId: number;
      seriesId: number;
      batch: number;
      oldPath: string | null;
      newBatch: { from: SeriesState | null } | null;
    };

export interface InstanceStore {
  /**
   * Commits the instance (its spool file is already durable). A re-sent identical copy (same SOP
   * Instance UID in the same series, same bytes) is audited and reported as 'duplicate'.
   */
  record(r: InstanceRecord): Promise<RecordOutcome>;
  /**
   * Records several instances in one transaction (group commit: one WAL fsync for all). Each runs
   * in its own savepoint, so one failing row (returned as its Error) does not undo the others.
   * Throws only when the transaction as a whole cannot commit.
   */
  recordMany(rs: readonly InstanceRecord[], durableIds?: readonly number[]): Promise<(RecordOutcome | Error)[]>;
  /** Marks rows durable (their files' fsyncs completed), in the transaction of the next group when
   *  `recordMany` gets them as `durableIds`, or alone here. */
  markDurable(ids: readonly number[]): Promise<void>;
  /** Rows not yet marked durable, with what start-up reconciliation checks their files against. */
  notDurable(node: string | null): Promise<{ id: number; path: string; size: number; datasetSha256: string }[]>;
  /**
   * Removes a row whose file never became durable (it was never acknowledged): counts of its batch
   * and association are taken back, audit rows keep their event without it, and a receiving batch
   * left empty is removed. Audited as instance.not-durable.
   */
  dropNotDurable(id: number, at: number): Promise<DroppedInstance | null>;
  /** Undelivered instances (receiving or complete batches): the back-pressure measure. */
  pendingCount(): Promise<number>;
  /** Whether an instance row references this spool path (relative to the spool directory). */
  knowsPath(path: string): Promise<boolean>;
}
