//! The series list's filters from text (a console query string, CLI options), checked leniently.
import type { SeriesState, SourceId } from '../events.ts';
import {
  ROUTE_FILTERS,
  SERIES_SORTS,
  type RouteFilter,
  type SeriesListQuery,
  type SeriesSort,
} from '../store/series-list.ts';
import { SERIES_STATES } from '../store/stats.ts';
import { parseTime } from './time.ts';

type Query = Record<string, string | undefined>;

const one = <T extends string>(list: readonly T[], v: string | undefined): T | undefined =>
  (list as readonly string[]).includes(v ?? '') ? (v as T) : undefined;
const text = (v: string | undefined, max: number): string | undefined =>
  v && v.trim() && v.length <= max ? v.trim() : undefined;

/**
 * The list query from the page's query string. Unknown values are dropped with a sentence saying
 * so (the page still shows, unfiltered by them), rather than answering an error page.
 */
export function filtersFrom(
  q: Query,
  fixed: Partial<SeriesListQuery> = {},
  /** The registered source types (src/app/registry.ts) a `source` filter may name. */
  sources: readonly SourceId[] = [],
): { query: SeriesListQuery; problems: string[] } {
  const problems: string[] = [];
  const pick = <T extends string>(name: string, list: readonly T[]): T | undefined => {
    const v = q[name];
    const ok = one(list, v);
    if (v && !ok) {
      problems.push(`Filter "${name}" must be one of ${list.join(', ')}; it was ignored.`);
    }
    return ok;
  };
  const time = (name: string): number | undefined => {
    const v = q[name];
    if (!v) {
      return undefined;
    }
    const ms = parseTime(v);
    if (ms === null) {
      problems.push(`Filter "${name}" is not a date or time; it was ignored.`);
    }
    return ms ?? undefined;
  };
  const limit = Number(q.limit ?? 50);
  const offset = Number(q.offset ?? 0);
  const query: SeriesListQuery = {
    state: pick<SeriesState>('state', SERIES_STATES),
    route: pick<RouteFilter>('route', ROUTE_FILTERS),
    project: text(q.project, 64),
    source: pick<SourceId>('source', sources),
    sender: text(q.sender, 64),
    modality: text(q.modality, 16),
    from: time('from'),
    to: time('to'),
    sort: pick<SeriesSort>('sort', SERIES_SORTS),
    order: pick('order', ['asc', 'desc'] as const),
    limit: Number.isInteger(limit) && limit >= 1 && limit <= 500 ? limit : 50,
    offset: Number.isInteger(offset) && offset >= 0 ? offset : 0,
    ...fixed,
  };
  return { query, problems };
}
