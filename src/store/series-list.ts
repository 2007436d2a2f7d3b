//! The series list's contract: filters, sorting and pages of series batches for /series and the console.
// SQLite implementation: sqlite/series-list.ts.
import type { SeriesState, SourceId } from '../events.ts';
import type { SeriesSummary } from './series-summary.ts';

/** Where the quarantine protocol sent a batch: `quarantined` excludes released and discarded ones (nothing left to decide). */
export type RouteFilter = 'quarantined' | 'hospital' | 'released' | 'waiting' | 'unrouted';
export const ROUTE_FILTERS: readonly RouteFilter[] = ['quarantined', 'hospital', 'released', 'waiting', 'unrouted'];
export type SeriesSort = 'id' | 'received' | 'lastReceived' | 'instances' | 'modality' | 'state' | 'project';
export const SERIES_SORTS: readonly SeriesSort[] = [
  'id',
  'received',
  'lastReceived',
  'instances',
  'modality',
  'state',
  'project',
];

export interface SeriesFilter {
  readonly state?: SeriesState | undefined;
  readonly route?: RouteFilter | undefined;
  /** Target project of the routing decision (e.g. QUARANTINE). */
  readonly project?: string | undefined;
  readonly source?: SourceId | undefined;
  /** A calling AE title (any case) or a peer IP address of an association that sent to the batch. */
  readonly sender?: string | undefined;
  readonly modality?: string | undefined;
  /** Epoch ms: batches that received anything at or after `from` and started before `to`. */
  readonly from?: number | undefined;
  readonly to?: number | undefined;
}

export interface SeriesListQuery extends SeriesFilter {
  readonly sort?: SeriesSort | undefined;
  readonly order?: 'asc' | 'desc' | undefined;
  /** 1..500 (clamped). */
  readonly limit: number;
  readonly offset?: number | undefined;
  /** Cursor for the default order (id, newest first): only ids below it. */
  readonly before?: number | undefined;
}

/** One row of the list. Times are epoch ms. */
export interface SeriesListItem extends SeriesSummary {
  /** The routing decision: null until the batch is complete and routed. */
  project: string | null;
  target: 'hospital' | 'quarantine' | null;
  routeState: 'waiting' | 'routed' | null;
  releasedAt: number | null;
  /** The rules that decided (ids and messages, as in /series/:id). */
  reasons: { rule: string; message: string }[];
  /** Distinct calling AE titles and sources of the associations that sent to it. */
  senders: string[];
  sources: SourceId[];
  /** Associations still open that sent to it (an open one keeps a receiving batch from completing). */
  openAssociations: number;
}

export interface SeriesListPage {
  items: SeriesListItem[];
  /** Matching batches in all pages. */
  total: number;
  /** Pass as `offset` for the next page; null on the last. */
  nextOffset: number | null;
  /** With the default order: pass as `before` for the next (older) page; null on the last. */
  nextBefore: number | null;
}

export interface SeriesList {
  page(q: SeriesListQuery): Promise<SeriesListPage>;
  /** Ids only (for find results, which need the same row shape): newest first. */
  byIds(ids: readonly number[]): Promise<SeriesListItem[]>;
}
