//! Builds the status HTTP server (reads, plus the admin's authenticated actions: requeue, release, discard); the daemon decides where (and whether) it listens.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerSeriesRoutes } from './routes/series.ts';
import { registerRoutingRoutes } from './routes/routing.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerJobRoutes } from './routes/jobs.ts';
import { registerSpoolRoutes } from './routes/spool.ts';
import { formatValidation } from './schemas.ts';
import { registerAccess } from './access.ts';
import { registerConsole } from './console/index.ts';
import { registerFindRoutes } from './routes/find.ts';
import { registerPullRoutes } from './routes/pulls.ts';
import { createExplainGate } from './explain-upload.ts';
import type { RouteDeps, StatusDeps } from './deps.ts';

export type { StatusDeps } from './deps.ts';

export type { Readiness } from './readiness.ts';

/**
 * Returns a configured Fastify instance and never calls `listen` (fastify's build/listen split):
 * tests drive it with `inject()`, the daemon binds it, by default to 127.0.0.1.
 */
export function buildStatusServer(deps: StatusDeps): FastifyInstance {
  // Typed as fastify's base logger so the instance is a plain FastifyInstance for route modules.
  const loggerInstance: FastifyBaseLogger = deps.log.child({ component: 'status' });
  const app = Fastify({
    loggerInstance,
    // Scrapes and probes every few seconds would drown the log; failures are still logged below.
    logController: new LogController({ disableRequestLogging: true }),
    schemaErrorFormatter: formatValidation,
  });
  const routeDeps: RouteDeps = {
    ...deps,
    startedAt: deps.clock.now(),
    explainGate: deps.routing ? createExplainGate(deps.routing) : null,
  };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {
      return reply.code(400).send({ error: 'bad request', message: err.message });
    }
    const code = err.statusCode ?? 500;
    if (code < 500) {
      return reply.code(code).send({ error: 'bad request', message: err.message });
    }
    // Not a failure of the server: the disk is below its watermark (an upload may be tried later).
    if (code === 507) {
      return reply.code(507).send({ error: 'insufficient storage', message: err.message });
    }
    req.log.error({ err, url: req.routeOptions.url }, 'Status request failed.');
    // The message may quote SQL or paths; the log has it, the response does not.
    return reply.code(500).send({ error: 'internal error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // The console reads req.viewer: with a console but no access options, reading stays open and
  // sessions are the console's own.
  const access =
    deps.access ??
    (deps.console ? { auth: 'actions' as const, adminTokenFile: null, sessions: deps.console.sessions } : null);
  if (access) {
    registerAccess(app, access);
  }
  registerHealthRoutes(app, routeDeps);
  registerStatusRoutes(app, routeDeps);
  registerJobRoutes(app, routeDeps);
  registerSeriesRoutes(app, routeDeps);
  registerRoutingRoutes(app, routeDeps);
  registerSpoolRoutes(app, routeDeps);
  registerMetricsRoutes(app, routeDeps);
  registerFindRoutes(app, routeDeps);
  registerPullRoutes(app, routeDeps);
  if (deps.console) {
    registerConsole(app, routeDeps, deps.console);
  }
  return app;
}
