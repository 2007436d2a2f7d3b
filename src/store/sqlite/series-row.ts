//! A `series` row as the read models select it: its columns, and the summary every series view starts from.
// The list (series-list.ts) and the timeline (timeline.ts) both show a batch's counters and times;
// one definition keeps their field names, order and meaning the same in /series and /series/:id.
import type { SeriesSummary } from '../series-summary.ts';
import type { SeriesState } from '../../events.ts';

/** The `series` columns behind SeriesSummary, as selected by seriesColumns. */
export interface SeriesRow {
  id: number;
  study_uid: string;
  series_uid: string;
  batch: number;
  state: SeriesState;
  modality: string | null;
  instance_count: number;
  byte_count: number;
  first_instance_at: number;
  last_instance_at: number;
  completed_at: number | null;
  delivered_at: number | null;
}

const COLUMNS = [
  'id',
  'study_uid',
  'series_uid',
  'batch',
  'state',
  'modality',
  'instance_count',
  'byte_count',
  'first_instance_at',
  'last_instance_at',
  'completed_at',
  'delivered_at',
] as const satisfies readonly (keyof SeriesRow)[];

/** The select list of a SeriesRow from `series` under `alias` (listed, never `*`: no column slips in). */
export function seriesColumns(alias: string): string {
  return COLUMNS.map((c) => `${alias}.${c}`).join(', ');
}

export function toSummary(r: SeriesRow): SeriesSummary {
  return {
    id: r.id,
    studyUid: r.study_uid,
    seriesUid: r.series_uid,
    batch: r.batch,
    state: r.state,
    modality: r.modality,
    instanceCount: r.instance_count,
    byteCount: r.byte_count,
    firstInstanceAt: r.first_instance_at,
    lastInstanceAt: r.last_instance_at,
    completedAt: r.completed_at,
    deliveredAt: r.delivered_at,
  };
}
