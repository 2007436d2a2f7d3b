//! The originals store's contract: what happens to each series batch's original spool files.
// Retention and discard decide, this store records; SQLite implementation: sqlite/originals.ts.

export type OriginalsState = 'retained' | 'removed' | 'discarded';

export interface OriginalsRecord {
  readonly seriesId: number;
  readonly state: OriginalsState;
  readonly reason: string;
  readonly by: string | null;
  readonly files: number;
  readonly bytes: number;
  readonly at: number;
  readonly pendingDelete: boolean;
}

/** Why the spool holds what it holds: one bucket per reason (see `holdings`). */
export const HOLDING_REASONS = [
  'receiving',
  'awaitingDelivery',
  'waitingForImages',
  'quarantined',
  'failed',
  'deliveredToRemove',
  'retained',
  'removing',
] as const;
export type HoldingReason = (typeof HOLDING_REASONS)[number];
export interface Holding {
  series: number;
  files: number;
  bytes: number;
}

export interface OriginalsStore {
  get(seriesId: number): Promise<OriginalsRecord | undefined>;
  /** Records (or changes) the state of a batch's originals. */
  put(r: OriginalsRecord): Promise<void>;
  /** The deletion recorded with `pendingDelete` is done. */
  deleted(seriesId: number): Promise<void>;
  /** Batches whose files are still to be deleted (a crash came between the decision and the deletion). */
  pendingDeletes(): Promise<number[]>;
  /**
   * Batches delivered to the hospital project (their final project: nothing re-routes them) whose
   * originals are still held, by id after `afterId`; `ids` limits the check to those batches.
   */
  deliveredHeld(o: { afterId: number; limit: number } | { ids: readonly number[] }): Promise<number[]>;
  /** The spool files of a batch (paths relative to the spool directory) and their sizes. */
  files(seriesId: number): Promise<{ path: string; size: number }[]>;
  /** Retained batches, oldest first. */
  retained(limit: number): Promise<OriginalsRecord[]>;
  retainedTotal(): Promise<{ series: number; files: number; bytes: number }>;
  /** Series batches, files and bytes per reason the spool holds them. */
  holdings(): Promise<Record<HoldingReason, Holding>>;
}
