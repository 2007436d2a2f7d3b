//! Composition root: config → stores and components → one start list; stop runs it in reverse.
// Wiring lives in src/app/ (this file, registry.ts, compose-*.ts, readiness.ts, observers.ts,
// recovery.ts, status-*.ts): the only modules that import across components (STYLE §3.2).
import { join } from 'node:path';
import { systemClock, type Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createEvents, type DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { composeIntake, diskSpaceFor } from './compose-intake.ts';
import {
  buildSources,
  buildTransforms,
  SOURCE_TYPES,
  sourcePorts,
  studyLabelsOf,
  withStudyLabels,
} from './registry.ts';
import { observeEvents } from './observers.ts';
import { composeMonitoring } from './compose-monitoring.ts';
import { composePipeline } from './compose-pipeline.ts';
import type { Assembler } from '../series/assembler.ts';
import { nodeIdFor } from './node-id.ts';
import { recover } from './recovery.ts';
import { createReadiness } from './readiness.ts';
import { createServiceList } from './services.ts';
import { createStatusServer } from './status-server.ts';
import { createBreakers } from '../resilience/breaker.ts';
import { openDb, type Db } from '../store/sqlite/db.ts';
import { createJobStore } from '../store/sqlite/jobs.ts';
import { createStats } from '../store/sqlite/stats.ts';
import { buildSinks, sinksFor as sinksForConfig } from './compose-sinks.ts';
import { createDropLedger } from '../store/sqlite/drops.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { createRouteStore } from '../store/sqlite/routes.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import { createLayoutDirs, layoutFor } from '../spool/layout.ts';
import { createRetention } from '../spool/retention.ts';
import { createOriginalsStore } from '../store/sqlite/originals.ts';
import type { Readiness } from '../status/readiness.ts';
import type { FindHasher } from '../find/digest.ts';
import { loadFindHasher } from '../find/key.ts';

export interface Daemon {
  start(): Promise<void>;
  /** Graceful stop: sources, assembler, workers (grace period), status server, database. */
  stop(): Promise<void>;
  /** The start order (stop runs in reverse). */
  readonly services: readonly string[];
  /** Bound ports (after start), useful when the config asks for port 0: `http`, and each listening source by type. */
  ports(): Readonly<Record<string, number | null>>;
  readiness(): Promise<Readiness>;
  readonly db: Db;
  readonly events: DaemonEvents;
  readonly config: Config;
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
  createLayoutDirs(layout);
  const events = createEvents();
  const db = openDb(layout.dbFile);
  const nodeId = nodeIdFor(cfg.nodeId, layout.dataDir);
  const { leaseMs, maxAgeMs } = cfg.workers;
  const jobs = createJobStore(db, clock, { leaseMs, maxAgeMs, events, nodeId });
  const stats = createStats(db, SOURCE_TYPES);
  const keysDir = cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys');
  // Loaded by the recovery service, before any source starts (see there).
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
  let assemblerRef: Assembler | null = null;
  const sources = buildSources(cfg, (type) => ({ log: log.child({ component: `source:${type}` }), clock, events }), {
    layout,
    db,
    ledger,
    logFileNames: cfg.log.fileNames,
    // The assembler is built after the sources; a pull only calls this once running.
    completeSeries: async (study, series) => {
      await assemblerRef?.completeWhenFree(study, series);
    },
  });
  const studyLabels = studyLabelsOf(sources);
  const pseudonyms = withStudyLabels(createPseudonymLedger(db), studyLabels);
  const { route, anonymise } = buildTransforms(
    cfg,
    (type) => ({ log: log.child({ component: `transform:${type}` }), clock, events }),
    { pseudonyms, uow: sqliteUnitOfWork(db), keysDir, defaultProject: cfg.route.hospitalProject },
  );
  const routes = createRouteStore(db);
  const sinksFor = sinksForConfig(cfg);
  const breakers = createBreakers([...sinks.keys()], cfg.workers.breaker, clock, (c) => {
    events.emit('sink.circuit', { sink: c.sink, state: c.state, code: c.lastCode, error: c.lastError });
  });
  const unobserve = observeEvents({ events, log, audit: createAuditLog(db), clock, later });
  const { worker, router, assembler } = composePipeline({
    cfg,
    nodeId,
    db,
    jobs,
    routes,
    clock,
    events,
    log,
    layout,
    space,
    sinks,
    sinksFor,
    breakers,
    route,
    anonymise,
    projectFor: (seriesId) => studyLabels.projectFor(seriesId),
  });
  assemblerRef = assembler;
  const readiness = createReadiness({
    admission,
    sources: sources.map((s) => s.source),
    db,
    minFreeBytes: cfg.spool.minFreeBytes,
    maxPendingInstances: cfg.spool.maxPendingInstances,
  });
  const monitoring = composeMonitoring({
    cfg,
    clock,
    events,
    log,
    stats,
    readiness,
    routes,
    route,
    breakers,
    sources,
    ledger,
    httpPort: () => ports().http ?? null,
  });
  const { delivery, rates, metrics, notifier } = monitoring;
  const status = createStatusServer({
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
    transforms: [route, anonymise],
    finder: () => finder,
    problems: () => notifier.recent(),
    events,
    sinksFor,
    wakeWorker: () => {
      worker.notify();
    },
  });
  const ports = (): Record<string, number | null> => ({ http: status.port(), ...sourcePorts(sources) });

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
          monitoring.close();
          unobserve();
        },
      },
      {
        name: 'recovery',
        start: async () => {
          // Loaded before any source starts: every instance's identifiers are hashed for find at ingest.
          finder = await loadFindHasher(keysDir);
          await recover({ cfg, log, db, layout, slots, assembler, retention, nodeId });
        },
      },
      // Each sink sweeps what a killed delivery left and checks its target (src/contracts/sink-lifecycle.ts).
      ...[...sinks].map(([id, sink]) => ({ name: `sink:${id}`, start: () => sink.start(), stop: () => sink.stop() })),
      {
        name: 'notify',
        start: () => notifier.start(),
        stop: () => notifier.stop(),
      },
      { name: 'status server', start: () => status.listen(), stop: () => status.close() },
      // The transforms in the order a batch meets them (route watches its rule files; anonymise
      // holds file threads, stopped after the worker that uses them).
      ...[route, anonymise].map((t) => ({ name: `transform:${t.type}`, start: () => t.start(), stop: () => t.stop() })),
      {
        name: 'intake',
        // After the sources stopped, before the database closes: the durable marks still waiting
        // for a group commit are written, so their batches need not wait for the next start-up.
        stop: async () => {
          await later.stop();
          await flushDurable();
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
        stop: () => assembler.stop(),
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
