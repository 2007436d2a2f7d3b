//! The series list: filters, sorting, paging and live rows (the same query as GET /series).
import type { FastifyInstance } from 'fastify';
import { ROUTE_FILTERS } from '../../../store/series-list.ts';
import { SERIES_STATES } from '../../../store/stats.ts';
import type { RouteDeps } from '../../deps.ts';
import { filtersFrom } from '../../series-filters.ts';
import { seriesView } from '../../series-view.ts';
import type { Renderer } from '../render.ts';

type Query = Record<string, string | undefined>;

/** The query string of the list with `changes` applied (for sort, paging and live links). */
function linkWith(q: Query, changes: Record<string, string | number | undefined>): string {
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries({ ...q, ...changes })) {
    if (v !== undefined && v !== '' && k !== 'fragment') {
      p.set(k, String(v));
    }
  }
  const s = p.toString();
  return s ? `?${s}` : '';
}

export async function listModel(deps: RouteDeps, q: Query): Promise<Record<string, unknown>> {
  const { query, problems } = filtersFrom(q, {}, deps.sources);
  const page = await deps.stats.listSeries(query);
  return {
    q,
    problems,
    now: deps.clock.now(),
    total: page.total,
    rows: page.items.map((i) => seriesView(i, deps.quietPeriodMs)),
    offset: query.offset ?? 0,
    limit: query.limit,
    sort: query.sort ?? 'id',
    order: query.order ?? 'desc',
    next: page.nextOffset === null ? null : linkWith(q, { offset: page.nextOffset }),
    prev: (query.offset ?? 0) > 0 ? linkWith(q, { offset: Math.max(0, (query.offset ?? 0) - query.limit) }) : null,
    live: `/console/series${linkWith(q, { fragment: undefined })}${linkWith(q, {}) ? '&' : '?'}fragment=rows`,
    sortLink: (col: string) =>
      linkWith(q, {
        sort: col,
        order: query.sort === col && query.order === 'asc' ? 'desc' : 'asc',
        offset: undefined,
      }),
    states: SERIES_STATES,
    routes: ROUTE_FILTERS,
    sources: deps.sources,
    sourceLabels: deps.sourceLabels ?? {},
  };
}

export function registerSeriesList(app: FastifyInstance, deps: RouteDeps, view: Renderer): void {
  app.get<{ Querystring: Query }>('/console/series', async (req, reply) => {
    const model = await listModel(deps, req.query);
    if (req.query.fragment === 'rows') {
      return view.fragment(reply, 'series-rows', model);
    }
    const problems = model.problems as string[];
    return view.page(
      req,
      reply,
      'series-list',
      {
        title: 'Series',
        active: 'series',
        flash: problems.length ? { kind: 'error', text: problems.join(' ') } : null,
      },
      model,
    );
  });
}
