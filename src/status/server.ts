//! Builds the read-only status HTTP server; the daemon decides where (and whether) it listens.
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import type { Clock } from '../clock.ts';
import type { Logger } from '../log.ts';
import type { Stats } from '../queue/stats.ts';
import type { DropRecord } from '../pipeline/contracts.ts';
import type { FolderStatus } from '../sources/folder/index.ts';
import type { Metrics } from './metrics.ts';
import type { RateTracker } from './rates.ts';
import type { Readiness } from './readiness.ts';
import { registerHealthRoutes } from './routes/health.ts';
import { registerMetricsRoutes } from './routes/metrics.ts';
import { registerSeriesRoutes } from './routes/series.ts';
import { registerRoutingRoutes, type RoutingView } from './routes/routing.ts';
import { registerStatusRoutes } from './routes/status.ts';
import { registerJobRoutes, type JobsView } from './routes/jobs.ts';
import { registerSpoolRoutes, type SpoolView } from './routes/spool.ts';
import type { CircuitStatus } from '../pipeline/breaker.ts';
import type { DeliveryHealth } from './delivery-health.ts';
import { formatValidation } from './schemas.ts';
import { registerAccess, type AccessOptions } from './access.ts';
import { registerConsole } from './console/index.ts';
import type { ConsoleDeps } from './console/types.ts';
import { registerFindRoutes } from './routes/find.ts';
import { createExplainGate, type ExplainGate } from './explain-upload.ts';

export type { Readiness } from './readiness.ts';

export interface StatusDeps {
  log: Logger;
  stats: Stats;
  rates: RateTracker;
  metrics: Metrics;
  /** Called per request to /readyz, /status and /metrics; must be cheap (cached statfs etc.). */
  readiness: () => Readiness;
  clock: Clock;
  /** The watched import folder's live state and recent drops; absent or null when it is disabled. */
  importFolder?: () => (FolderStatus & { recent: readonly DropRecord[] }) | null;
  /** The quarantine protocol: decisions, rules in force, release and explain; absent in bare tests. */
  routing?: RoutingView;
  /** Delivery jobs: list and the authenticated requeue; absent in bare tests. */
  jobs?: JobsView;
  /** Per-sink circuit breakers, shown under /status sinks. */
  circuits?: () => readonly CircuitStatus[];
  /** Delivery health (GET /healthz/delivery, /status delivery); absent in bare tests: always ok. */
  delivery?: () => ReturnType<DeliveryHealth['status']>;
  /** series.quietPeriodMs: when a receiving batch completes (GET /series completesAt). */
  quietPeriodMs?: number;
  /** Who is asking (session cookie or bearer token) and http.auth; absent: reads open, no sessions. */
  access?: AccessOptions;
  /** The operator console (docs/console.md); absent in bare tests. */
  console?: ConsoleDeps;
  /** What the spool holds and why, and the authenticated discard; absent in bare tests. */
  spool?: SpoolView;
}

/** What route modules receive: the deps plus the server's start time (epoch ms). */
export interface RouteDeps extends StatusDeps {
  startedAt: number;
  /** The one guarded way to explain an upload (POST /explain and the console); null without routing. */
  explainGate: ExplainGate | null;
}

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
  const routeDeps: RouteDeps = { ...deps, startedAt: deps.clock.now(), explainGate: deps.routing ? createExplainGate(deps.routing) : null };

  app.setErrorHandler((err: FastifyError, req, reply) => {
    if (err.validation) {return reply.code(400).send({ error: 'bad request', message: err.message });}
    const code = err.statusCode ?? 500;
    if (code < 500) {return reply.code(code).send({ error: 'bad request', message: err.message });}
    // Not a failure of the server: the disk is below its watermark (an upload may be tried later).
    if (code === 507) {return reply.code(507).send({ error: 'insufficient storage', message: err.message });}
    req.log.error({ err, url: req.routeOptions.url }, 'Status request failed.');
    // The message may quote SQL or paths; the log has it, the response does not.
    return reply.code(500).send({ error: 'internal error' });
  });
  app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }));

  // The console reads req.viewer: with a console but no access options, reading stays open and
  // sessions are the console's own.
  const access = deps.access ?? (deps.console ? { auth: 'actions' as const, adminTokenFile: null, sessions: deps.console.sessions } : null);
  if (access) {registerAccess(app, access);}
  registerHealthRoutes(app, routeDeps);
  registerStatusRoutes(app, routeDeps);
  registerJobRoutes(app, routeDeps);
  registerSeriesRoutes(app, routeDeps);
  registerRoutingRoutes(app, routeDeps);
  registerSpoolRoutes(app, routeDeps);
  registerMetricsRoutes(app, routeDeps);
  registerFindRoutes(app, routeDeps);
  if (deps.console) {registerConsole(app, routeDeps, deps.console);}
  return app;
}
