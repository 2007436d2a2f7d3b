//! Liveness (/healthz) and readiness (/readyz) probes.
import type { FastifyInstance } from 'fastify';
import { isReady } from '../readiness.ts';
import type { RouteDeps } from '../server.ts';
import { bool, int, num, obj, str } from '../schemas.ts';

const readinessSchema = obj({
  ready: bool,
  receiverListening: bool,
  dbWritable: bool,
  diskFreeBytes: int,
  diskMinFreeBytes: int,
  backlogOk: bool,
  reasons: { type: 'array', items: str },
});

/** GET /healthz: the process answers. GET /readyz: 200 when ready, 503 with reasons otherwise. */
export function registerHealthRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get(
    '/healthz',
    { schema: { response: { 200: obj({ status: { type: 'string', enum: ['ok'] }, uptimeSeconds: num }) } } },
    () => ({ status: 'ok', uptimeSeconds: Math.max(0, (deps.clock.now() - deps.startedAt) / 1000) }),
  );

  app.get('/readyz', { schema: { response: { 200: readinessSchema, 503: readinessSchema } } }, (_req, reply) => {
    const r = deps.readiness();
    const ready = isReady(r);
    return reply.code(ready ? 200 : 503).send({ ready, ...r });
  });
}
