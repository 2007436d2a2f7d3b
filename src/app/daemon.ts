//! Composition root: config → stores and components → one start list; stop runs it in reverse.
// Wiring lives in src/app/ (this file, registry.ts, compose-*.ts, readiness.ts, observers.ts,
// status-deps.ts): the only modules that import across components (STYLE §3.2).
import { mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createEvents, type DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { composeIntake, diskSpaceFor } from './compose-intake.ts';
import { buildSources, buildTransforms, pacsGauges, SOURCE_TYPES, studyLabelsOf, withStudyLabels } from './registry.ts';
import { observeEvents } from './observers.ts';
import { createReadiness } from './readiness.ts';
import { createServiceList } from './services.ts';
import { composeStatusDeps, consoleUrlFor } from './status-deps.ts';
import { createWorker, type Worker } from '../pipeline/worker.ts';
import { createBreakers } from '../resilience/breaker.ts';
import { openDb, type Db } from '../store/sqlite/db.ts';
import { createJobStore } from '../store/sqlite/jobs.ts';
import { createStats } from '../store/sqlite/stats.ts';
import { createAssembler, type Assembler } from '../series/assembler.ts';
import { createSnapshotLoader } from '../series/snapshot.ts';
import { buildSinks, sinksFor as sinksForConfig } from './compose-sinks.ts';
import { createDropLedger } from '../store/sqlite/drops.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { createRouteStore } from '../store/sqlite/routes.ts';
import { createRouter, type Router } from '../pipeline/router.ts';
import { nodeIdFor } from './node-id.ts';
import { layoutFor } from '../spool/layout.ts';
import { reconcileSpool, sweepWorkDir } from '../spool/reconcile.ts';
import { createRetention } from '../spool/retention.ts';
import { createOriginalsStore } from '../store/sqlite/originals.ts';
import { createMetrics, type Metrics } from '../status/metrics.ts';
import { createRateTracker } from '../status/rates.ts';
import type { Readiness } from '../status/readiness.ts';
import { buildStatusServer } from '../status/server.ts';
import { createDeliveryHealth } from '../status/delivery-health.ts';
import type { FindHasher } from '../find/digest.ts';
import { loadFindHasher } from '../find/key.ts';
import { createNotifier, type Notifier } from '../notify/index.ts';
import { isLoopback } from '../status/access.ts';

export interface Daemon {
  start(): Promise<void>;
  /** Graceful stop: sources, assembler, workers (grace period), status server, database. */
  stop(): Promise<void>;
  /** The start order (stop runs in reverse). */
  readonly services: readonly string[];
  /** Bound ports (after start), useful when the config asks for port 0: `http`, and each listening source by type. */
  ports(): Readonly<Record<string, number | null>>;
  readiness(): Readiness;
  readonly db: Db;
  readonly events: DaemonEvents;
  readonly config: Config;
}

/** Says at start-up what leaves the gateway: identifiable data (profile none) is an explicit, logged choice. */
function logAnonymisation(cfg: Config, log: Logger): void {
  const a = cfg.anonymise;
  const none = [
    a.profile === 'none' ? `default (every project not listed, e.g. ${cfg.route.hospitalProject})` : null,
    ...Object.entries(a.projects)
      .filter(([, p]) => p.profile === 'none')
      .map(([n]) => n),
  ].filter((x) => x !== null);
  if (none.length) {
    log.warn(
      { projects: none },
      'Anonymisation profile "none": identifiable data is forwarded unchanged to these projects.',
    );
  }
  log.info({ profile: a.profile, projects: Object.keys(a.projects) }, 'De-identification before delivery.');
}

/** Options beyond the config: the logger, and seams for tests (clock, free-space probe). */
export interface DaemonOptions {
  readonly log: Logger;
  readonly clock?: Clock;
  readonly freeBytes?: (dir: string) => number;
}

export function createDaemon(cfg: Config, o: DaemonOptions): Daemon {
  const clock = o.clock ?? systemClock;
  const log = o.log;
  const layout = layoutFor(cfg.dataDir);
  for (const dir of [layout.dataDir, layout.spoolDir, layout.workDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }
  chmodSync(layout.dataDir, 0o750);
  const events = createEvents();
  const db = openDb(layout.dbFile);
  const nodeId = nodeIdFor(cfg.nodeId, layout.dataDir);
  const jobs = createJobStore(db, clock, {
    leaseMs: cfg.workers.leaseMs,
    maxAgeMs: cfg.workers.maxAgeMs,
    events,
    nodeId,
  });
  const stats = createStats(db, SOURCE_TYPES);
  const keysDir = cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys');
  // Loaded at start, before any source: every instance's identifiers are hashed for find at ingest.
  let finder: FindHasher | null = null;
  const space = diskSpaceFor(cfg, o.freeBytes);
  const { admission, slots, intake, later, flushDurable } = composeIntake(cfg, db, {
    sources: SOURCE_TYPES,
    layout,
    clock,
    events,
    log,
    nodeId,
    space,
    finder: () => finder,
  });
  const originals = createOriginalsStore(db);
  const retention = createRetention({
    originals,
    spoolDir: layout.spoolDir,
    policy: cfg.spool.retainDelivered,
    space,
    clock,
    events,
    log: log.child({ component: 'retention' }),
    checkIntervalMs: Math.max(cfg.series.checkIntervalMs, 1000),
  });
  const sinks = buildSinks(cfg, log, clock, events);
  // Built (not started) before the transforms and the router: a source may label the studies it brings in.
  const ledger = createDropLedger(db);
  const sources = buildSources(cfg, (type) => ({ log: log.child({ component: `source:${type}` }), clock, events }), {
    layout,
    db,
    ledger,
    logFileNames: cfg.log.fileNames,
  });
  const studyLabels = studyLabelsOf(sources);
  const pseudonyms = withStudyLabels(createPseudonymLedger(db), studyLabels);
  const { route, anonymise } = buildTransforms(
    cfg,
    (type) => ({ log: log.child({ component: `transform:${type}` }), clock, events }),
    { pseudonyms, keysDir, defaultProject: cfg.route.hospitalProject },
  );
  const routes = createRouteStore(db);
  const sinksFor = sinksForConfig(cfg);
  const breakers = createBreakers([...sinks.keys()], cfg.workers.breaker, clock, (c) => {
    events.emit('sink.circuit', { sink: c.sink, state: c.state, code: c.lastCode, error: c.lastError });
  });
  const unobserve = observeEvents({ events, log, audit: createAuditLog(db), clock });
  const worker: Worker = createWorker({
    jobs,
    clock,
    events,
    log: log.child({ component: 'worker' }),
    concurrency: cfg.workers.concurrency,
    leaseMs: cfg.workers.leaseMs,
    pollIntervalMs: cfg.workers.pollIntervalMs,
    sinks,
    transforms: [anonymise],
    loadSnapshot: createSnapshotLoader(db, layout.spoolDir),
    workRoot: layout.workDir,
    backoff: { baseMs: cfg.workers.backoffBaseMs, maxMs: cfg.workers.backoffMaxMs },
    breakers,
    reserveSpace: (dir, bytes) => space.reserve(dir, bytes),
  });
  const router: Router = createRouter({
    db,
    routes,
    jobs,
    clock,
    events,
    log: log.child({ component: 'router' }),
    decide: (s, signal) => route.decide(s, signal),
    rulesHash: () => route.rules().hash,
    loadSnapshot: createSnapshotLoader(db, layout.spoolDir),
    projects: cfg.route,
    sinksFor,
    maxAttempts: cfg.workers.maxAttempts,
    rtWaitMs: cfg.route.rtWaitMs,
    checkIntervalMs: cfg.series.checkIntervalMs,
    onEnqueued: () => {
      worker.notify();
    },
    projectFor: (seriesId) => studyLabels.projectFor(seriesId),
  });
  const assembler: Assembler = createAssembler({
    db,
    clock,
    events,
    log: log.child({ component: 'series' }),
    quietPeriodMs: cfg.series.quietPeriodMs,
    checkIntervalMs: cfg.series.checkIntervalMs,
    jobs,
    nodeId,
    onCompleted: () => {
      router.notify();
    },
  });
  const readiness = createReadiness({
    admission,
    sources: sources.map((s) => s.source),
    db,
    minFreeBytes: cfg.spool.minFreeBytes,
    maxPendingInstances: cfg.spool.maxPendingInstances,
  });
  const delivery = createDeliveryHealth(events, clock);
  const rates = createRateTracker(clock, SOURCE_TYPES);
  const unsubscribeRates = rates.subscribe(events);
  const metrics: Metrics = createMetrics({
    sources: SOURCE_TYPES,
    events,
    stats,
    clock,
    readiness,
    routing: () => ({ ...routes.counts(), reloadFailed: route.rules().lastError !== null }),
    circuits: () => breakers.status(),
    delivery: () => delivery.status(),
    pacs: () => pacsGauges(sources),
  });
  let http: FastifyInstance | null = null;
  const ports = (): Record<string, number | null> => {
    const a = http?.server.address();
    const bound: Record<string, number | null> = { http: a && typeof a === 'object' ? a.port : null };
    for (const { type, source } of sources) {
      const port = source.describe().port;
      if (port !== undefined) {
        bound[type] = typeof port === 'number' ? port : null;
      }
    }
    return bound;
  };
  const notifier: Notifier = createNotifier(cfg.notify, {
    events,
    clock,
    log: log.child({ component: 'notify' }),
    consoleUrl: consoleUrlFor(cfg, () => ports().http ?? null),
    disk: () => {
      const r = readiness();
      return { freeBytes: r.diskFreeBytes, minFreeBytes: r.diskMinFreeBytes };
    },
    rulesError: () => route.rules().lastError,
    drops: () => (sources.some((s) => s.type === 'folder') ? ledger.recent(20) : null),
  });

  /** Start-up recovery: what the previous process left (work files, orphan slots, leases); each sink sweeps its own when it starts. */
  async function recover(): Promise<void> {
    finder = await loadFindHasher(keysDir);
    // Nothing runs yet: whatever is in the work directory was left by a killed job, drop read or upload.
    const work = await sweepWorkDir(layout, log);
    const spool = await reconcileSpool(layout, db, log, nodeId);
    slots.adopt(spool.freeSlots);
    await slots.prime();
    const recovered = assembler.recoverAfterRestart();
    const retained = await retention.recover();
    log.info(
      {
        ...recovered,
        orphanFiles: spool.removed,
        freeSlots: slots.ready,
        workEntries: work,
        originals: retained,
        node: nodeId,
      },
      'Recovered state from the previous run.',
    );
    logAnonymisation(cfg, log);
  }

  async function listen(): Promise<void> {
    if (!cfg.http.enabled) {
      return;
    }
    http = buildStatusServer(
      composeStatusDeps({
        cfg,
        log,
        clock,
        db,
        layout,
        space,
        stats,
        rates,
        metrics,
        readiness,
        delivery,
        circuits: () => breakers.status(),
        jobs,
        routes,
        route,
        originals,
        ledger,
        sources,
        sinks,
        finder: () => finder,
        problems: () => notifier.recent(),
        releaseDeps: {
          db,
          routes,
          jobs,
          clock,
          events,
          projects: cfg.route,
          sinksFor,
          maxAttempts: cfg.workers.maxAttempts,
        },
        discardDeps: { db, jobs, routes, originals, clock, events, spoolDir: layout.spoolDir },
        wakeWorker: () => {
          worker.notify();
        },
      }),
    );
    await http.listen({ host: cfg.http.host, port: cfg.http.port });
    log.info({ host: cfg.http.host, port: ports().http }, 'Status server listening.');
    if (!isLoopback(cfg.http.host) && cfg.http.host !== 'localhost' && cfg.http.auth === 'actions') {
      log.warn(
        { host: cfg.http.host },
        'The status server and console are reachable beyond this machine and reading needs no sign-in; set http.auth: all to require it.',
      );
    }
  }

  // Started top to bottom, stopped bottom to top (services.ts). Entries without `start` hold what
  // they were built with. Sources come last: data is accepted only when everything that handles it runs.
  const services = createServiceList(
    [
      {
        name: 'database',
        stop: () => {
          db.close();
        },
      },
      {
        name: 'observers',
        stop: () => {
          metrics.close();
          delivery.close();
          unsubscribeRates();
          unobserve();
        },
      },
      { name: 'recovery', start: recover },
      // Each sink sweeps what a killed delivery left and checks its target (src/contracts/sink-lifecycle.ts).
      ...[...sinks].map(([id, sink]) => ({ name: `sink:${id}`, start: () => sink.start(), stop: () => sink.stop() })),
      {
        name: 'notify',
        start: () => {
          notifier.start();
        },
        stop: () => notifier.stop(),
      },
      { name: 'status server', start: listen, stop: () => http?.close() },
      {
        name: 'transform:route',
        start: () => {
          route.start();
        },
        stop: () => route.close(),
      },
      {
        name: 'intake',
        // After the sources stopped, before the database closes: the durable marks still waiting
        // for a group commit are written, so their batches need not wait for the next start-up.
        stop: () => {
          later.stop();
          flushDurable();
        },
      },
      {
        name: 'retention',
        start: () => {
          retention.start();
        },
        stop: () => retention.stop(),
      },
      {
        name: 'worker',
        start: () => {
          worker.start();
        },
        stop: () => worker.stop({ deadlineMs: cfg.workers.shutdownGraceMs }),
      },
      {
        name: 'router',
        start: () => {
          router.start();
        },
        stop: () => router.stop(),
      },
      {
        name: 'assembler',
        start: () => {
          assembler.start();
        },
        stop: () => {
          assembler.stop();
        },
      },
      ...sources.map(({ type, source }) => ({
        name: `source:${type}`,
        start: () => source.start(intake),
        stop: () => source.stop(),
      })),
    ],
    log,
  );

  return {
    db,
    events,
    config: cfg,
    readiness,
    ports,
    services: services.names,
    async start() {
      await services.start();
      log.info({ dataDir: cfg.dataDir }, 'xnat-gateway started.');
    },
    async stop() {
      await services.stop();
      log.info('xnat-gateway stopped.');
    },
  };
}
