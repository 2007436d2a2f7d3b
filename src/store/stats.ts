//! The status read model's contract: counters behind /status, /series and /metrics (no patient data).
// SQLite implementation: sqlite/stats.ts.
import type { SeriesState, SourceId } from '../events.ts';
import type { SeriesListPage, SeriesListQuery } from './series-list.ts';
import type { SeriesTimeline } from './timeline.ts';

export type JobState = 'queued' | 'running' | 'done' | 'dead';
export const SERIES_STATES: readonly SeriesState[] = ['receiving', 'complete', 'delivered', 'failed'];
export const JOB_STATES: readonly JobState[] = ['queued', 'running', 'done', 'dead'];

/** Series batches, instances and bytes (from `series` counters) in one series state. */
export interface StateCounts {
  series: number;
  instances: number;
  bytes: number;
}
/** Instances and bytes (from `instances.size`) received through one source. */
export interface SourceTotals {
  instances: number;
  bytes: number;
}

/** A page of the series list (store/sqlite/series-list.ts): summaries plus project, reasons and senders. */
export type SeriesPage = SeriesListPage;

export interface SinkSummary {
  sink: string;
  jobs: Record<JobState, number>;
  lastSuccessAt: number | null;
  lastFailure: { at: number; code: string | null; error: string | null } | null;
}
/** Epoch-ms anchors of the oldest undelivered work; null when there is none. */
export interface OldestPending {
  /** first_instance_at of the oldest batch still receiving or complete. */
  seriesFirstInstanceAt: number | null;
  seriesId: number | null;
  /** run_at of the earliest queued job (may be in the future while backing off). */
  jobRunAt: number | null;
  jobId: number | null;
}

export interface Stats {
  seriesByState(): Promise<Record<SeriesState, StateCounts>>;
  jobsByState(): Promise<Record<JobState, number>>;
  sourceTotals(): Promise<Record<SourceId, SourceTotals>>;
  sinks(): Promise<SinkSummary[]>;
  oldestPending(): Promise<OldestPending>;
  openAssociations(): Promise<number>;
  /** Filtered and sorted (default newest first); `before` is an exclusive id cursor; `limit` is clamped to 1..500. */
  listSeries(q: SeriesListQuery): Promise<SeriesPage>;
  timeline(seriesId: number): Promise<SeriesTimeline | null>;
}
