//! Pulls over HTTP: POST /pulls (a CSV or XLSX list), GET /pulls, GET /pulls/:id (rows and counts), the report, pause/resume/cancel/choose.
// Writes need an admin bearer token when the server listens beyond loopback. On a loopback-only
// server a request from this machine may act without one (as `xnat-gateway pull` does), unless it
// comes from a browser (an Origin header): a page on another site must not act through
// 127.0.0.1. The list travels as the raw body with a spreadsheet content type, which a browser
// cannot send across sites without a preflight we never answer. Identifiers (accession numbers,
// patient IDs, dates, candidates) are shown only to a signed-in administrator or a token holder.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { PullRecord, PullRow, SeriesRecord } from '../../contracts/pull-ledger.ts';
import { reportTotals } from '../../sources/pull/report.ts';
import { requireAdmin } from '../admin-auth.ts';
import type { PullsView, RouteDeps } from '../deps.ts';

export type { PullsView } from '../deps.ts';

export const LIST_TYPES = [
  'text/csv',
  'application/csv',
  'text/tab-separated-values',
  'application/octet-stream',
  'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet',
  'application/vnd.ms-excel',
];

/** Who may act: a token holder (or, on a loopback-only server, a non-browser client on this machine). Null when refused (sent). */
export function pullActor(
  v: PullsView,
  req: FastifyRequest,
  reply: FastifyReply,
  action: string,
): { who: string } | null {
  if (
    req.headers.authorization !== undefined ||
    v.needsAdmin ||
    !req.viewer.loopback ||
    req.headers.origin !== undefined
  ) {
    return requireAdmin(v.adminTokenFile, req, reply, action);
  }
  return { who: 'local' };
}

/** A pull as the API lists it. */
export function pullSummary(p: PullRecord): Record<string, unknown> {
  return {
    id: p.uid,
    pacs: p.pacs,
    project: p.project,
    state: p.state,
    pauseReason: p.pauseReason,
    notes: p.notes,
    createdAt: p.createdAt,
    updatedAt: p.updatedAt,
    endedAt: p.endedAt,
    purgedAt: p.purgedAt,
    rows: p.rowsTotal,
    counts: p.counts,
  };
}

/** One row with its series; identifiers only for an administrator. */
export function rowView(r: PullRow, series: readonly SeriesRecord[], admin: boolean): Record<string, unknown> {
  const sum = (f: (s: SeriesRecord) => number | null): number | null =>
    series.length === 0 || series.some((s) => f(s) === null) ? null : series.reduce((n, s) => n + (f(s) ?? 0), 0);
  return {
    line: r.line,
    state: r.state,
    reason: r.reason,
    notes: r.notes,
    duplicateOf: r.duplicateOf,
    studyInstanceUid: r.studyInstanceUid,
    expected: r.expectedInstances,
    received: r.receivedInstances,
    delivered: sum((s) => s.delivered),
    verified: sum((s) => s.verified),
    attempts: r.attempts,
    nextAttemptAt: r.nextAttemptAt,
    lastCode: r.lastCode,
    lastError: r.lastError,
    retrieve: r.retrieve,
    labels: r.labels,
    xnatSession: r.xnatSession,
    xnatUrl: r.xnatUrl,
    updatedAt: r.updatedAt,
    finishedAt: r.finishedAt,
    series: series.map((s) => ({
      seriesInstanceUid: s.seriesInstanceUid,
      modality: s.modality,
      seriesNumber: s.seriesNumber,
      expected: s.expected,
      received: s.received,
      delivered: s.delivered,
      verified: s.verified,
    })),
    ...(admin
      ? { key: r.key, candidates: r.candidates }
      : {
          candidates:
            r.candidates?.map((c) => ({
              studyInstanceUid: c.studyInstanceUid,
              modalities: c.modalities,
              instances: c.instances,
            })) ?? null,
        }),
  };
}

/** The pull, its rows and totals, as GET /pulls/:id answers. */
export async function pullDetail(v: PullsView, p: PullRecord, admin: boolean): Promise<Record<string, unknown>> {
  const rows = await v.ledger.rows(p.id);
  const series = new Map<number, SeriesRecord[]>();
  for (const r of rows) {
    series.set(r.id, await v.ledger.series(r.id));
  }
  return {
    pull: pullSummary(p),
    verifies: v.verifies,
    totals: reportTotals(rows, series),
    rows: rows.map((r) => rowView(r, series.get(r.id) ?? [], admin)),
  };
}

function refusal(reply: FastifyReply, err: unknown): FastifyReply {
  if (err instanceof DaemonError) {
    const status = err.code === ErrorCode.PULL_PACS_UNKNOWN ? 404 : 400;
    return reply
      .code(status)
      .send({ error: status === 404 ? 'not found' : 'bad request', code: err.code, message: err.message });
  }
  throw err;
}

export function registerPullRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const v = deps.pulls;
  if (!v) {
    return;
  }
  const admin = (req: FastifyRequest): boolean => req.viewer.who !== null;
  const find = async (id: string, reply: FastifyReply): Promise<PullRecord | null> => {
    const p = await v.ledger.getPullByUid(id);
    if (!p) {
      void reply.code(404).send({ error: 'not found', code: ErrorCode.PULL_LIST, message: `No pull ${id}.` });
    }
    return p;
  };

  app.register((scope, _opts, done) => {
    scope.addContentTypeParser(LIST_TYPES, { parseAs: 'buffer', bodyLimit: v.maxFileBytes }, (_req, body, next) => {
      next(null, body);
    });
    scope.post<{ Querystring: { pacs: string; project?: string; name?: string } }>(
      '/pulls',
      {
        bodyLimit: v.maxFileBytes,
        schema: {
          querystring: {
            type: 'object',
            additionalProperties: false,
            required: ['pacs'],
            properties: {
              pacs: { type: 'string', minLength: 1, maxLength: 64 },
              project: { type: 'string', pattern: '^[A-Za-z0-9_-]{1,64}$' },
              name: { type: 'string', maxLength: 255 },
            },
          },
        },
      },
      async (req, reply) => {
        const who = pullActor(v, req, reply, 'Pull');
        if (!who) {
          return reply;
        }
        if (!Buffer.isBuffer(req.body)) {
          return reply.code(415).send({
            error: 'unsupported media type',
            message: `Send the list as the body with one of: ${LIST_TYPES.join(', ')}.`,
          });
        }
        try {
          const p = await v.service.submit(req.body, {
            pacs: req.query.pacs,
            project: req.query.project ?? null,
            fileName: req.query.name ?? null,
          });
          req.log.info({ pull: p.uid, pacs: p.pacs, rows: p.rowsTotal, by: who.who }, 'Pull list accepted.');
          return await reply
            .code(201)
            .header('Location', `/pulls/${p.uid}`)
            .send(await pullDetail(v, p, true));
        } catch (err) {
          return refusal(reply, err);
        }
      },
    );
    done();
  });

  app.get('/pulls', async () => ({
    items: (await v.ledger.pulls()).map(pullSummary),
    pacs: v.pacs(),
    verifies: v.verifies,
  }));

  app.get<{ Params: { id: string } }>('/pulls/:id', async (req, reply) => {
    const p = await find(req.params.id, reply);
    return p ? pullDetail(v, p, admin(req)) : reply;
  });

  app.get<{ Params: { id: string } }>('/pulls/:id/report.csv', async (req, reply) => {
    const p = await find(req.params.id, reply);
    if (!p) {
      return reply;
    }
    const csv = await v.service.report(p.id, { identifiers: admin(req) });
    return reply
      .type('text/csv; charset=utf-8')
      .header('Content-Disposition', `attachment; filename="pull-${p.uid}.csv"`)
      .send(csv);
  });

  for (const action of ['pause', 'resume', 'cancel'] as const) {
    app.post<{ Params: { id: string } }>(`/pulls/:id/${action}`, async (req, reply) => {
      const who = pullActor(v, req, reply, `Pull ${action}`);
      if (!who) {
        return reply;
      }
      const p = await find(req.params.id, reply);
      if (!p) {
        return reply;
      }
      if (p.state === 'ended' || p.state === 'cancelled') {
        return reply
          .code(409)
          .send({ error: 'conflict', message: `The pull has ${p.state === 'ended' ? 'ended' : 'been cancelled'}.` });
      }
      if (action === 'pause') {
        await v.service.pause(p.id, `paused by ${who.who}`);
      } else if (action === 'resume') {
        await v.service.resume(p.id);
      } else {
        await v.service.cancel(p.id);
      }
      req.log.info({ pull: p.uid, by: who.who }, `Pull ${action} requested.`);
      return pullSummary((await v.ledger.getPullByUid(p.uid)) ?? p);
    });
  }

  app.post<{ Params: { id: string; line: number }; Body: { studyInstanceUid: string | null } }>(
    '/pulls/:id/rows/:line/choose',
    {
      schema: {
        params: {
          type: 'object',
          required: ['id', 'line'],
          properties: { id: { type: 'string' }, line: { type: 'integer', minimum: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['studyInstanceUid'],
          properties: {
            studyInstanceUid: { anyOf: [{ type: 'null' }, { type: 'string', pattern: '^[0-9.]{1,64}$' }] },
          },
        },
      },
    },
    async (req, reply) => {
      const who = pullActor(v, req, reply, 'Pull row choice');
      if (!who) {
        return reply;
      }
      const p = await find(req.params.id, reply);
      if (!p) {
        return reply;
      }
      const row = (await v.ledger.rows(p.id)).find((r) => r.line === req.params.line);
      if (!row) {
        return reply
          .code(404)
          .send({ error: 'not found', message: `The pull has no line ${String(req.params.line)}.` });
      }
      try {
        await v.service.choose(row.id, req.body.studyInstanceUid);
      } catch (err) {
        if (err instanceof Error && err.name === 'RowStateError') {
          return reply.code(409).send({ error: 'conflict', message: err.message });
        }
        throw err;
      }
      return rowView(
        (await v.ledger.rows(p.id)).find((r) => r.id === row.id) ?? row,
        await v.ledger.series(row.id),
        true,
      );
    },
  );
}
