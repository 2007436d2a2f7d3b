//! Discard from the console: an administrator gives up a series batch the spool holds, from the
//! quarantine page or the series page, through the same function as POST /series/:id/discard.
import type { FastifyInstance, FastifyReply } from 'fastify';
import type { OriginalsRecord } from '../../../store/originals.ts';
import type { SeriesTimeline } from '../../../store/timeline.ts';
import type { RouteDeps } from '../../deps.ts';
import { checkForm, formOf } from '../forms.ts';
import type { Renderer } from '../render.ts';

/** The longest reason accepted (as POST /series/:id/discard). */
export const DISCARD_REASON_MAX = 500;

/**
 * Whether discard may be offered for a batch: complete, routed, its originals still in the spool
 * (or kept as a retained copy) and no delivery running; discardSeries checks it again under lock.
 */
export function discardable(t: SeriesTimeline, routed: boolean, originals: OriginalsRecord | undefined): boolean {
  return (
    t.state !== 'receiving' &&
    routed &&
    (!originals || originals.state === 'retained') &&
    !t.jobs.some((j) => j.state === 'running')
  );
}

/** "Series 7 was discarded by alice: …": read from the database, never from the link. */
export async function discardedFlash(deps: RouteDeps, id: number): Promise<{ kind: 'ok'; text: string } | null> {
  const o = Number.isInteger(id) && id > 0 ? await deps.spool?.originals(id) : undefined;
  if (o?.state !== 'discarded') {
    return null;
  }
  return {
    kind: 'ok',
    text: `Series ${String(id)} was discarded by ${o.by ?? 'an administrator'}: its ${String(o.files)} original file${o.files === 1 ? ' was' : 's were'} deleted.`,
  };
}

export function registerDiscard(app: FastifyInstance, deps: RouteDeps, view: Renderer): void {
  const spool = deps.spool;
  if (!spool) {
    return;
  }
  app.post<{ Params: { id: string } }>('/console/series/:id/discard', async (req, reply) => {
    // Which page the form was on: the answer goes back there.
    const fromQuarantine = formOf(req).from === 'quarantine';
    const active = fromQuarantine ? 'quarantine' : 'series';
    const ok = checkForm(req, reply, view, { admin: true, action: 'Discard', active });
    if (!ok?.who) {
      return reply;
    }
    const id = /^\d{1,15}$/.test(req.params.id) ? Number(req.params.id) : 0;
    const back = { href: fromQuarantine ? '/console/quarantine' : `/console/series/${String(id)}`, label: 'Back' };
    const refuse = (status: number, text: string): FastifyReply =>
      view.page(
        req,
        reply,
        'message',
        { title: 'Not discarded', active, flash: { kind: 'error', text } },
        { heading: 'Not discarded', text: `Series ${String(id)} was not discarded.`, link: back },
        status,
      );
    const reason = (formOf(req).note ?? '').trim();
    if (!reason || reason.length > DISCARD_REASON_MAX) {
      return refuse(400, `A reason of 1 to ${String(DISCARD_REASON_MAX)} characters is required.`);
    }
    const r = await spool.discard(id, ok.who, reason);
    if (!r.ok) {
      return refuse(r.status, r.message);
    }
    req.log.info(
      { seriesId: r.seriesId, files: r.files, bytes: r.bytes, jobsCancelled: r.jobsCancelled, by: ok.who },
      'Series discarded from the spool (console).',
    );
    return reply
      .code(303)
      .header(
        'Location',
        fromQuarantine ? `/console/quarantine?discarded=${String(id)}` : `/console/series/${String(id)}?discarded=1`,
      )
      .send();
  });
}
