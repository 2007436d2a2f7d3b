//! GET /metrics: Prometheus text exposition for scrapers.
import type { FastifyInstance } from 'fastify';
import { METRICS_CONTENT_TYPE } from '../exposition.ts';
import type { RouteDeps } from '../deps.ts';
import { str } from '../schemas.ts';

/** Serves `deps.metrics.render()` as text/plain; version=0.0.4. */
export function registerMetricsRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get('/metrics', { schema: { response: { 200: str } } }, async (_req, reply) =>
    reply.type(METRICS_CONTENT_TYPE).send(await deps.metrics.render()),
  );
}
