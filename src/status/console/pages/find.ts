//! Find: an administrator looks up the series of one patient or accession number by keyed hash.
// The query arrives in a POST body (never in a URL, a log line or the browser history), is hashed
// and matched against series_lookup, and is not shown back or stored; the audit row names who
// searched, which kind of identifier, and how many series matched.
import type { FastifyInstance } from 'fastify';
import type { LookupKind } from '../../../store/find-index.ts';
import type { RouteDeps } from '../../deps.ts';
import { seriesView } from '../../series-view.ts';
import { checkForm, formOf } from '../forms.ts';
import type { ConsoleDeps } from '../types.ts';
import type { Renderer } from '../render.ts';

const KINDS: readonly LookupKind[] = ['patient', 'accession'];

export function registerFind(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  const base = { enabled: c.find !== null, kinds: KINDS, now: 0, live: null, sourceLabels: deps.sourceLabels ?? {} };
  app.get('/console/find', (req, reply) =>
    view.page(req, reply, 'find', { title: 'Find', active: 'find' }, { ...base, kind: 'patient', rows: null }),
  );

  app.post('/console/find', async (req, reply) => {
    const ok = checkForm(req, reply, view, { admin: true, action: 'Find', active: 'find' });
    if (!ok?.who) {
      return reply;
    }
    const form = formOf(req);
    const kind = KINDS.find((k) => k === form.kind) ?? 'patient';
    const value = (form.value ?? '').trim();
    if (!c.find || !value || value.length > 64) {
      return view.page(
        req,
        reply,
        'find',
        {
          title: 'Find',
          active: 'find',
          flash: { kind: 'error', text: 'Type a patient ID or accession number of 1 to 64 characters.' },
        },
        { ...base, kind, rows: null },
        400,
      );
    }
    const rows = (await c.find(kind, value)).map((i) => seriesView(i, deps.quietPeriodMs));
    await c.audit('series.find', null, { by: ok.who, kind, matches: rows.length });
    req.log.info({ by: ok.who, kind, matches: rows.length }, 'Find by identifier.');
    return view.page(
      req,
      reply,
      'find',
      { title: 'Find', active: 'find' },
      { ...base, kind, rows, now: deps.clock.now() },
    );
  });
}
