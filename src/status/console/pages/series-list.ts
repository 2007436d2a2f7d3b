//! The series list: filters, sorting, paging and live rows (the same query as GET /series).
import type { FastifyInstance } from 'fastify';
import type { SeriesState, SourceId } from '../../../events.ts';
import { ROUTE_FILTERS, SERIES_SORTS, type RouteFilter, type SeriesListQuery, type SeriesSort } from '../../../queue/series-list.ts';
import { SERIES_STATES, SOURCES } from '../../../queue/stats.ts';
import type { RouteDeps } from '../../server.ts';
import { seriesView } from '../../series-view.ts';
import { parseTime } from '../../time.ts';
import type { Renderer } from '../render.ts';

type Query = Record<string, string | undefined>;

const one = <T extends string>(list: readonly T[], v: string | undefined): T | undefined => (list as readonly string[]).includes(v ?? '') ? v as T : undefined;
const text = (v: string | undefined, max: number): string | undefined => (v && v.trim() && v.length <= max ? v.trim() : undefined);

/**
 * The list query from the page's query string. Unknown values are dropped with a sentence saying
 * so (the page still shows, unfiltered by them), rather than answering an error page.
 */
export function filtersFrom(q: Query, fixed: Partial<SeriesListQuery> = {}): { query: SeriesListQuery; problems: string[] } {
  const problems: string[] = [];
  const pick = <T extends string>(name: string, list: readonly T[]): T | undefined => {
    const v = q[name];
    const ok = one(list, v);
    if (v && !ok) {problems.push(`Filter "${name}" must be one of ${list.join(', ')}; it was ignored.`);}
    return ok;
  };
  const time = (name: string): number | undefined => {
    const v = q[name];
    if (!v) {return undefined;}
    const ms = parseTime(v);
    if (ms === null) {problems.push(`Filter "${name}" is not a date or time; it was ignored.`);}
    return ms ?? undefined;
  };
  const limit = Number(q.limit ?? 50);
  const offset = Number(q.offset ?? 0);
  const query: SeriesListQuery = {
    state: pick<SeriesState>('state', SERIES_STATES), route: pick<RouteFilter>('route', ROUTE_FILTERS),
    project: text(q.project, 64), source: pick<SourceId>('source', SOURCES), sender: text(q.sender, 64),
    modality: text(q.modality, 16), from: time('from'), to: time('to'),
    sort: pick<SeriesSort>('sort', SERIES_SORTS), order: pick('order', ['asc', 'desc'] as const),
    limit: Number.isInteger(limit) && limit >= 1 && limit <= 500 ? limit : 50,
    offset: Number.isInteger(offset) && offset >= 0 ? offset : 0,
    ...fixed,
  };
  return { query, problems };
}

/** The query string of the list with `changes` applied (for sort, paging and live links). */
function linkWith(q: Query, changes: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, ...changes })) {
    if (v !== undefined && v !== '' && k !== 'fragment') {p.set(k, String(v));}
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export function listModel(deps: RouteDeps, q: Query): Record<string, unknown> {
  const { query, problems } = filtersFrom(q);
  const page = deps.stats.listSeries(query);
  return {
    q, problems, now: deps.clock.now(), total: page.total,
    rows: page.items.map((i) => seriesView(i, deps.quietPeriodMs)),
    offset: query.offset ?? 0, limit: query.limit, sort: query.sort ?? 'id', order: query.order ?? 'desc',
    next: page.nextOffset === null ? null : linkWith(q, { offset: page.nextOffset }),
    prev: (query.offset ?? 0) > 0 ? linkWith(q, { offset: Math.max(0, (query.offset ?? 0) - query.limit) }) : null,
    live: `/console/series${linkWith(q, { fragment: undefined })}${linkWith(q, {}) ? '&' : '?'}fragment=rows`,
    sortLink: (col: string) => linkWith(q, { sort: col, order: query.sort === col && query.order === 'asc' ? 'desc' : 'asc', offset: undefined }),
    states: SERIES_STATES, routes: ROUTE_FILTERS, sources: SOURCES,
  };
}

export function registerSeriesList(app: FastifyInstance, deps: RouteDeps, view: Renderer): void {
  app.get<{ Querystring: Query }>('/console/series', (req, reply) => {
    const model = listModel(deps, req.query);
    if (req.query.fragment === 'rows') {return view.fragment(reply, 'series-rows', model);}
    const problems = model.problems as string[];
    return view.page(req, reply, 'series-list', {
      title: 'Series', active: 'series', flash: problems.length ? { kind: 'error', text: problems.join(' ') } : null,
    }, model);
  });
}
