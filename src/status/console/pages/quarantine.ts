//! Quarantine: the quarantined series with their reasons, and release (with a required note).
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../../deps.ts';
import { seriesView } from '../../series-view.ts';
import { checkForm, formOf } from '../forms.ts';
import { discardedFlash } from './discard.ts';
import type { PageFrame, Renderer } from '../render.ts';

/** A form offered on each quarantined series: release, and discard when the spool can discard. */
export interface QuarantineAction {
  readonly id: string;
  /** Button text. */
  readonly label: string;
  /** Where the form posts: POST <path(seriesId)> with _csrf and note. */
  path(seriesId: number): string;
  /** Label of the required note field. */
  readonly noteLabel: string;
  readonly danger: boolean;
}

export function quarantineActions(hospitalProject: string, canDiscard: boolean): QuarantineAction[] {
  const release: QuarantineAction = {
    id: 'release',
    label: `Release to ${hospitalProject}`,
    path: (id) => `/console/series/${String(id)}/release`,
    noteLabel: 'Why it may go (required)',
    danger: false,
  };
  // Discarding deletes the originals: a release can never follow (pages/discard.ts).
  const discard: QuarantineAction = {
    id: 'discard',
    label: 'Discard',
    path: (id) => `/console/series/${String(id)}/discard`,
    noteLabel: 'Why it is discarded (required)',
    danger: true,
  };
  return canDiscard ? [release, discard] : [release];
}

const NOTE_MAX = 500;

async function model(deps: RouteDeps, hospitalProject: string): Promise<Record<string, unknown>> {
  const page = await deps.stats.listSeries({ route: 'quarantined', limit: 500 });
  return {
    rows: page.items.map((i) => seriesView(i, deps.quietPeriodMs)),
    total: page.total,
    actions: quarantineActions(hospitalProject, deps.spool !== undefined),
    noteMax: NOTE_MAX,
  };
}

export function registerQuarantine(
  app: FastifyInstance,
  deps: RouteDeps,
  view: Renderer,
  hospitalProject: string,
): void {
  const routing = deps.routing;
  const show = async (
    req: Parameters<Renderer['page']>[0],
    reply: Parameters<Renderer['page']>[1],
    flash: PageFrame['flash'],
    status = 200,
  ): Promise<ReturnType<Renderer['page']>> =>
    view.page(
      req,
      reply,
      'quarantine',
      { title: 'Quarantine', active: 'quarantine', flash },
      await model(deps, hospitalProject),
      status,
    );

  app.get<{ Querystring: { released?: string; discarded?: string } }>('/console/quarantine', async (req, reply) => {
    const id = Number(req.query.released);
    const done = Number.isInteger(id) && id > 0 ? await routing?.get(id) : undefined;
    // The sentence comes from the database, not from the query string: nothing a link carries is echoed.
    const flash = done?.releasedBy
      ? {
          kind: 'ok' as const,
          text: `Series ${String(id)} was released to ${done.project} by ${done.releasedBy}; it is being delivered.`,
        }
      : null;
    return show(req, reply, flash ?? (await discardedFlash(deps, Number(req.query.discarded))));
  });

  app.post<{ Params: { id: string } }>('/console/series/:id/release', async (req, reply) => {
    const ok = checkForm(req, reply, view, { admin: true, action: 'Release', active: 'quarantine' });
    if (!ok?.who) {
      return reply;
    }
    const id = /^\d{1,15}$/.test(req.params.id) ? Number(req.params.id) : 0;
    const note = (formOf(req).note ?? '').trim();
    if (!note || note.length > NOTE_MAX) {
      return show(
        req,
        reply,
        {
          kind: 'error',
          text: `Series ${String(id)} was not released: a note of 1 to ${String(NOTE_MAX)} characters saying why is required.`,
        },
        400,
      );
    }
    if (!routing) {
      return show(req, reply, { kind: 'error', text: 'Routing is not available.' }, 409);
    }
    const r = await routing.release(id, ok.who, note);
    if (!r.ok) {
      return show(req, reply, { kind: 'error', text: r.message }, r.status);
    }
    req.log.info({ seriesId: id, released: r.released, by: ok.who }, 'Series released from quarantine (console).');
    return reply
      .code(303)
      .header('Location', `/console/quarantine?released=${String(id)}`)
      .send();
  });
}
