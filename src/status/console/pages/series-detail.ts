//! One series batch: timeline, senders, routing decision, de-identification, jobs and XNAT's view.
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../../deps.ts';
import type { ConsoleDeps } from '../types.ts';
import type { Renderer } from '../render.ts';
import { discardable, discardedFlash, DISCARD_REASON_MAX } from './discard.ts';

/** The XNAT page of a delivered session: the receipt URI XNAT answered, under the configured XNAT URL. */
export function xnatLink(
  base: string | null,
  detail: Record<string, unknown> | null,
  receipt: string | null,
): string | null {
  const uri = typeof detail?.uri === 'string' ? detail.uri : receipt;
  if (base === null || !uri?.startsWith('/data/')) {
    return null;
  }
  return `${base.replace(/\/+$/, '')}${uri}`;
}

export async function detailModel(
  deps: RouteDeps,
  c: ConsoleDeps,
  id: number,
): Promise<Record<string, unknown> | null> {
  const t = await deps.stats.timeline(id);
  if (!t) {
    return null;
  }
  const route = (await deps.routing?.get(id)) ?? null;
  const now = deps.clock.now();
  const open = t.associations.filter((a) => a.closedAt === null).length;
  const originals = (await deps.spool?.originals(id)) ?? null;
  return {
    s: t,
    route,
    now,
    originals,
    canDiscard: deps.spool !== undefined && discardable(t, route !== null, originals ?? undefined),
    discardMax: DISCARD_REASON_MAX,
    completesAt:
      t.state === 'receiving' && open === 0 && deps.quietPeriodMs !== undefined
        ? t.lastInstanceAt + deps.quietPeriodMs
        : null,
    openAssociations: open,
    deid: await c.deid(id, route?.project ?? null, t.studyUid),
    jobs: t.jobs.map((j) => ({ ...j, xnat: xnatLink(c.xnatUrl, j.detail, j.receipt) })),
    // Newest first: what happened last is what an operator looks for.
    events: [...t.events].reverse(),
  };
}

export function registerSeriesDetail(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  app.get<{ Params: { id: string }; Querystring: { fragment?: string; discarded?: string } }>(
    '/console/series/:id',
    async (req, reply) => {
      const id = /^\d{1,15}$/.test(req.params.id) ? Number(req.params.id) : 0;
      const model = id ? await detailModel(deps, c, id) : null;
      if (!model) {
        return view.page(
          req,
          reply,
          'message',
          { title: 'Not found', active: 'series' },
          { heading: 'Not found', text: `There is no series batch ${req.params.id}.` },
          404,
        );
      }
      if (req.query.fragment === 'live') {
        return view.fragment(reply, 'series-live', model);
      }
      const flash = req.query.discarded === undefined ? null : await discardedFlash(deps, id);
      return view.page(req, reply, 'series', { title: `Series ${String(id)}`, active: 'series', flash }, model);
    },
  );
}
