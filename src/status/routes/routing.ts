//! The quarantine protocol over HTTP: POST /series/:id/release (admin) and POST /explain (upload).
import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import type { RouteRecord } from '../../store/routes.ts';
import type { RouteReason } from '../../contracts/routing.ts';
import { requireAdmin } from '../admin-auth.ts';
import { abortOnDisconnect } from '../explain-upload.ts';
import type { ExplainResult, RouteDeps } from '../deps.ts';
import { errorSchema, int, nullableInt, nullableStr, obj, str } from '../schemas.ts';

export const reasonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['rule', 'source', 'message', 'instances'],
  properties: {
    rule: str,
    source: str,
    file: str,
    line: int,
    message: str,
    attribute: str,
    values: { type: 'array', items: str },
    instances: int,
  },
} as const;
const reasons = { type: 'array', items: reasonSchema } as const;

export const routeSchema = {
  anyOf: [
    { type: 'null' },
    obj({
      state: str,
      target: str,
      project: str,
      reasons,
      rulesHash: str,
      decidedAt: int,
      routedAt: nullableInt,
      waitUntil: nullableInt,
      groupSeriesId: nullableInt,
      releasedAt: nullableInt,
      releasedBy: nullableStr,
    }),
  ],
} as const;

/** The /series/:id view of a decision (RT reference UIDs stay internal). */
export function routeView(r: RouteRecord | undefined): unknown {
  if (!r) {
    return null;
  }
  return {
    state: r.state,
    target: r.target,
    project: r.project,
    reasons: r.reasons,
    rulesHash: r.rulesHash,
    decidedAt: r.decidedAt,
    routedAt: r.routedAt,
    waitUntil: r.waitUntil,
    groupSeriesId: r.groupSeriesId,
    releasedAt: r.releasedAt,
    releasedBy: r.releasedBy,
  };
}

export const rulesSchema = obj({
  hash: str,
  loadedAt: int,
  files: { type: 'array', items: obj({ path: str, kind: str, sha256: str }) },
  lastError: { anyOf: [{ type: 'null' }, obj({ at: int, problems: { type: 'array', items: str } })] },
});

const explainSchema = obj({
  series: {
    type: 'array',
    items: obj({
      seriesInstanceUid: str,
      studyInstanceUid: str,
      modality: str,
      instances: int,
      project: str,
      target: str,
      reasons,
      rulesHash: str,
    }),
  },
  skipped: { type: 'array', items: obj({ path: str, reason: str }) },
});

const UPLOAD_TYPES = [
  'application/dicom',
  'application/zip',
  'application/octet-stream',
  'application/x-zip-compressed',
];

export function registerRoutingRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const routing = deps.routing;
  if (!routing) {
    return;
  }

  app.post<{ Params: { id: number }; Body: { note?: string } | undefined }>(
    '/series/:id/release',
    {
      schema: {
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'integer', minimum: 1 } },
        },
        body: {
          anyOf: [
            { type: 'null' },
            { type: 'object', additionalProperties: false, properties: { note: { type: 'string', maxLength: 500 } } },
          ],
        },
        response: {
          200: obj({ released: { type: 'array', items: int }, project: str, by: str }),
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const auth = requireAdmin(routing.adminTokenFile, req, reply, 'Release');
      if (!auth) {
        return reply;
      }
      const r = await routing.release(req.params.id, auth.who, req.body?.note ?? null);
      if (!r.ok) {
        return reply.code(r.status).send({ error: r.status === 404 ? 'not found' : 'conflict', message: r.message });
      }
      req.log.info({ seriesId: req.params.id, released: r.released, by: auth.who }, 'Series released from quarantine.');
      return { released: [...r.released], project: r.project, by: auth.who };
    },
  );

  // Uploads arrive as a raw body (curl --data-binary, fetch with a File); streamed to disk, never
  // buffered, through the gate the console's form shares (one at a time, space reserved).
  const gate = deps.explainGate;
  if (!gate) {
    return;
  }
  app.register((scope, _opts, done) => {
    scope.addContentTypeParser(UPLOAD_TYPES, { bodyLimit: routing.explainMaxBytes }, (_req, payload, next) => {
      next(null, payload);
    });
    scope.post(
      '/explain',
      {
        bodyLimit: routing.explainMaxBytes,
        schema: {
          response: {
            200: explainSchema,
            400: errorSchema,
            401: errorSchema,
            403: errorSchema,
            413: errorSchema,
            415: errorSchema,
            429: errorSchema,
            507: errorSchema,
          },
        },
      },
      async (req, reply) => {
        if (routing.explainNeedsAdmin && !requireAdmin(routing.adminTokenFile, req, reply, 'Explain')) {
          return reply;
        }
        let result: ExplainResult;
        try {
          result = await gate.explain(req.body as Readable, {
            declaredBytes: Number(req.headers['content-length'] ?? 0) || 0,
            signal: abortOnDisconnect(reply),
          });
        } catch (err) {
          if ((err as { statusCode?: number }).statusCode !== 429) {
            throw err;
          }
          req.log.warn({ ip: req.ip }, 'Explain upload refused: another one is in progress.');
          return reply
            .code(429)
            .header('retry-after', '10')
            .send({ error: 'too many requests', message: (err as Error).message });
        }
        return {
          series: result.series.map((s) => ({
            seriesInstanceUid: s.seriesInstanceUid,
            studyInstanceUid: s.studyInstanceUid,
            modality: s.modality,
            instances: s.instances,
            project: s.decision.project,
            target: s.decision.target,
            reasons: s.decision.reasons as RouteReason[],
            rulesHash: s.decision.rulesHash,
          })),
          skipped: result.skipped,
        };
      },
    );
    done();
  });
}
