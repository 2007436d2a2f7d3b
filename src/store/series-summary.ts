//! A series batch as every series view shows it: UIDs, state, counters and times.
import type { SeriesState } from '../events.ts';

/** A series batch: its UIDs, state and counters. Times are epoch ms. */
export interface SeriesSummary {
  id: number;
  studyUid: string;
  seriesUid: string;
  batch: number;
  state: SeriesState;
  modality: string | null;
  instanceCount: number;
  byteCount: number;
  firstInstanceAt: number;
  lastInstanceAt: number;
  completedAt: number | null;
  deliveredAt: number | null;
}
