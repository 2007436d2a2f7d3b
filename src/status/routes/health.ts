//! Liveness (/healthz) and readiness (/readyz) probes.
import type { FastifyInstance } from 'fastify';
import { isReady } from '../readiness.ts';
import type { RouteDeps } from '../deps.ts';
import { bool, int, nullableStr, num, obj, str } from '../schemas.ts';

const readinessSchema = obj({
  ready: bool,
  receiverListening: bool,
  dbWritable: bool,
  diskFreeBytes: int,
  diskMinFreeBytes: int,
  backlogOk: bool,
  reasons: { type: 'array', items: str },
});

/** Delivery health as /healthz/delivery and /status show it. */
export const deliverySchema = obj({
  status: { type: 'string', enum: ['ok', 'degraded'] },
  reasons: {
    type: 'array',
    items: obj({ sink: str, code: str, stage: str, error: nullableStr, since: int, failures: int }),
  },
});

/**
 * GET /healthz: the process answers. GET /readyz: 200 when it can receive, 503 with reasons
 * otherwise. GET /healthz/delivery: 200 `ok`, or 503 `degraded` while jobs fail for a reason no
 * retry can fix (an administrator must act); receiving is not affected by it. GET /healthz/pacs:
 * 200 `ok`, or 503 `degraded` while a configured PACS does not answer C-ECHO.
 */
export function registerHealthRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get(
    '/healthz',
    { schema: { response: { 200: obj({ status: { type: 'string', enum: ['ok'] }, uptimeSeconds: num }) } } },
    () => ({ status: 'ok', uptimeSeconds: Math.max(0, (deps.clock.now() - deps.startedAt) / 1000) }),
  );

  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, async (_req, reply) => {
    const r = await deps.readiness();
    const ready = isReady(r);
    return reply.code(ready ? 200 : 503).send({ ready, ...r });
  });

  // PACS reachability (C-ECHO, pull.echoIntervalMs): pulls wait while a PACS is down; receiving is not affected.
  app.get('/healthz/pacs', (_req, reply) => {
    const p = deps.pulls;
    if (!p) {
      return reply.send({ status: 'ok', reasons: [], pacs: [] });
    }
    const r = p.health();
    return reply.code(r.ok ? 200 : 503).send({ status: r.ok ? 'ok' : 'degraded', reasons: r.reasons, pacs: p.pacs() });
  });

  app.get(
    '/healthz/delivery',
    { schema: { response: { 200: deliverySchema, 503: deliverySchema } } },
    (_req, reply) => {
      const d = deps.delivery?.() ?? { status: 'ok', reasons: [] };
      return reply.code(d.status === 'ok' ? 200 : 503).send(d);
    },
  );
}
