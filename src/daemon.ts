//! Composition root: config → components → start order; stop in reverse.
// The only module that imports across components (STYLE §3.2).
import { mkdirSync, chmodSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import { createEvents, type DaemonEvents } from './events.ts';
import type { Logger } from './log.ts';
import { composeIntake, diskSpaceFor, folderPaths } from './compose-intake.ts';
import { createWorker, type Worker } from './pipeline/worker.ts';
import { createBreakers } from './pipeline/breaker.ts';
import { openDb, type Db } from './queue/db.ts';
import { createJobStore } from './queue/jobs.ts';
import { createStats } from './queue/stats.ts';
import { createAssembler, type Assembler } from './series/assembler.ts';
import { createSnapshotLoader } from './series/snapshot.ts';
import { buildSinks, sinksFor as sinksForConfig } from './compose-sinks.ts';
import { create as createDimseSource, type DimseSource } from './sources/dimse/index.ts';
import { create as createFolderSource, type FolderSource } from './sources/folder/index.ts';
import { createDropLedger } from './queue/drops.ts';
import { createAuditLog } from './queue/audit.ts';
import { createPseudonymLedger } from './queue/pseudonyms.ts';
import { create as createAnonymise } from './transforms/anonymise/index.ts';
import { isIdentifying } from './transforms/anonymise/table.ts';
import { create as createRoute } from './transforms/route/index.ts';
import { createRouteStore } from './queue/routes.ts';
import { createRouter, type Router } from './pipeline/router.ts';
import { releaseSeries, type ReleaseDeps } from './pipeline/release.ts';
import { explainUpload } from './explain.ts';
import { createScriptLoader } from './transforms/anonymise/script.ts';
import { layoutFor } from './spool/layout.ts';
import { reconcileSpool, sweepWorkDir } from './spool/reconcile.ts';
import { createRetention } from './spool/retention.ts';
import { createOriginalsStore } from './queue/originals.ts';
import { discardSeries, type DiscardDeps } from './pipeline/discard.ts';
import { createMetrics, type Metrics } from './status/metrics.ts';
import { createRateTracker } from './status/rates.ts';
import type { Readiness } from './status/readiness.ts';
import { buildStatusServer } from './status/server.ts';
import { createDeliveryHealth } from './status/delivery-health.ts';
import type { FindHasher } from './find/digest.ts';
import { loadFindHasher } from './find/key.ts';
import { hostname } from 'node:os';
import { createNotifier, type Notifier } from './notify/index.ts';
import { composeAccess, composeConsole } from './compose-console.ts';
import { isLoopback } from './status/access.ts';

export interface Daemon {
  start(): Promise<void>;
  /** Graceful stop: sources, assembler, workers (grace period), status server, database. */
  stop(): Promise<void>;
  /** Bound ports (after start), useful when the config asks for port 0. */
  ports(): { dimse: number | null; http: number | null };
  /** The watched import folder, when enabled. */
  readonly folder: FolderSource | null;
  readiness(): Readiness;
  readonly db: Db;
  readonly events: DaemonEvents;
  readonly config: Config;
}

/** Says at start-up what leaves the gateway: identifiable data (profile none) is an explicit, logged choice. */
function logAnonymisation(cfg: Config, log: Logger): void {
  const a = cfg.anonymise;
  const none = [a.profile === 'none' ? `default (every project not listed, e.g. ${cfg.route.hospitalProject})` : null, ...Object.entries(a.projects).filter(([, p]) => p.profile === 'none').map(([n]) => n)].filter((x) => x !== null);
  if (none.length) {log.warn({ projects: none }, 'Anonymisation profile "none": identifiable data is forwarded unchanged to these projects.');}
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
  const jobs = createJobStore(db, clock, { leaseMs: cfg.workers.leaseMs, maxAgeMs: cfg.workers.maxAgeMs, events });
  const stats = createStats(db);
  const keysDir = cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys');
  // Loaded in start(), before any source: every instance's identifiers are hashed for find at ingest.
  let finder: FindHasher | null = null;
  const space = diskSpaceFor(cfg, o.freeBytes);
  const { admission, slots, intake, later, flushDurable } = composeIntake(cfg, db, { layout, clock, events, log, space, finder: () => finder });
  const originals = createOriginalsStore(db);
  const retention = createRetention({
    originals, spoolDir: layout.spoolDir, policy: cfg.spool.retainDelivered, space, clock, events, log: log.child({ component: 'retention' }),
    checkIntervalMs: Math.max(cfg.series.checkIntervalMs, 1000),
  });
  const sinks = buildSinks(cfg, log, clock, events);
  const pseudonyms = createPseudonymLedger(db);
  const anonymise = createAnonymise(cfg.anonymise, { log: log.child({ component: 'transform:anonymise' }), clock, events }, {
    ledger: pseudonyms, keysDir, script: createScriptLoader(),
    defaultProject: cfg.route.hospitalProject,
  });
  // Rules were validated at config load; a file edited since then fails here, before anything starts.
  const route = createRoute(cfg.route, { log: log.child({ component: 'transform:route' }), clock, events }, {
    identifying: isIdentifying, studySession: (project, studyUid) => pseudonyms.studySession(project, studyUid),
  });
  const routes = createRouteStore(db);
  const sinksFor = sinksForConfig(cfg);
  const breakers = createBreakers([...sinks.keys()], cfg.workers.breaker, clock, (c) => {
    events.emit('sink.circuit', { sink: c.sink, state: c.state, code: c.lastCode, error: c.lastError });
  });
  events.on('sink.circuit', (e) => {
    if (e.state === 'open') {log.warn({ sink: e.sink, code: e.code, error: e.error }, 'Sink circuit opened; its jobs wait for the next probe.');}
    else {log.info({ sink: e.sink, state: e.state }, e.state === 'closed' ? 'Sink circuit closed; deliveries resume.' : 'Sink circuit half-open; probing.');}
  });
  const audit = createAuditLog(db);
  const unsubscribeAudit = events.on('series.anonymised', (e) => {
    const { seriesId, ...detail } = e;
    audit.record('series.anonymised', seriesId, detail, clock.now());
  });
  const worker: Worker = createWorker({
    jobs, clock, events, log: log.child({ component: 'worker' }), concurrency: cfg.workers.concurrency,
    leaseMs: cfg.workers.leaseMs, pollIntervalMs: cfg.workers.pollIntervalMs, sinks, transforms: [anonymise],
    loadSnapshot: createSnapshotLoader(db, layout.spoolDir), workRoot: layout.workDir,
    backoff: { baseMs: cfg.workers.backoffBaseMs, maxMs: cfg.workers.backoffMaxMs }, breakers,
    reserveSpace: (dir, bytes) => space.reserve(dir, bytes),
  });
  const router: Router = createRouter({
    db, routes, jobs, clock, events, log: log.child({ component: 'router' }), decide: (s, signal) => route.decide(s, signal),
    rulesHash: () => route.rules().hash, loadSnapshot: createSnapshotLoader(db, layout.spoolDir), projects: cfg.route, sinksFor,
    maxAttempts: cfg.workers.maxAttempts, rtWaitMs: cfg.route.rtWaitMs, checkIntervalMs: cfg.series.checkIntervalMs,
    onEnqueued: () => { worker.notify(); },
  });
  const releaseDeps: ReleaseDeps = { db, routes, jobs, clock, events, projects: cfg.route, sinksFor, maxAttempts: cfg.workers.maxAttempts };
  const discardDeps: DiscardDeps = { db, jobs, routes, originals, clock, events, spoolDir: layout.spoolDir };
  const assembler: Assembler = createAssembler({
    db, clock, events, log: log.child({ component: 'series' }), quietPeriodMs: cfg.series.quietPeriodMs,
    checkIntervalMs: cfg.series.checkIntervalMs, jobs, onCompleted: () => { router.notify(); },
  });
  const dimse: DimseSource | null = cfg.dimse.enabled
    ? createDimseSource(cfg.dimse, { log: log.child({ component: 'source:dimse' }), clock, events })
    : null;
  const ledger = createDropLedger(db);
  const folder: FolderSource | null = cfg.folder.enabled
    ? createFolderSource(cfg.folder, {
        log: log.child({ component: 'source:folder' }), clock, events, ledger,
        paths: folderPaths(cfg, layout, cfg.folder.path ?? join(layout.dataDir, 'import')), logFileNames: cfg.log.fileNames,
      })
    : null;
  const dbWritable = (): boolean => {
    try {
      db.prepare('SELECT 1').get();
      return !db.readonly;
    } catch {
      return false;
    }
  };
  const readiness = (): Readiness => {
    const r = admission.readings();
    const check = admission.check();
    const listening = dimse ? dimse.listening() : true;
    const writable = dbWritable();
    const reasons: string[] = [];
    if (!listening) {reasons.push('DICOM receiver is not listening.');}
    if (!writable) {reasons.push('Database is not writable.');}
    if (!check.ok) {reasons.push(check.message);}
    // Reservations of writes in progress count as used: the same figure admission decides on.
    return { receiverListening: listening, dbWritable: writable, diskFreeBytes: r.freeBytes - r.reservedBytes, diskMinFreeBytes: cfg.spool.minFreeBytes, backlogOk: r.pendingInstances <= cfg.spool.maxPendingInstances, reasons };
  };
  const delivery = createDeliveryHealth(events, clock);
  const rates = createRateTracker(clock);
  const unsubscribeRates = rates.subscribe(events);
  const metrics: Metrics = createMetrics({
    events, stats, clock, readiness, routing: () => ({ ...routes.counts(), reloadFailed: route.rules().lastError !== null }), circuits: () => breakers.status(),
    delivery: () => delivery.status(),
  });
  let http: FastifyInstance | null = null;
  const access = composeAccess(cfg, clock);
  // Links in messages: notify.consoleUrl, else this host and the status port as bound.
  const consoleUrl = (): string => cfg.notify.consoleUrl?.replace(/\/+$/, '')
    ?? `http://${['0.0.0.0', '::'].includes(cfg.http.host) ? hostname() : cfg.http.host}:${String(ports().http ?? cfg.http.port)}`;
  const notifier: Notifier = createNotifier(cfg.notify, {
    events, clock, log: log.child({ component: 'notify' }), consoleUrl,
    disk: () => { const r = readiness(); return { freeBytes: r.diskFreeBytes, minFreeBytes: r.diskMinFreeBytes }; },
    rulesError: () => route.rules().lastError,
    drops: () => (folder ? ledger.recent(20) : null),
  });
  events.on('series.state', (e) => { log.info({ seriesId: e.seriesId, batch: e.batch, from: e.from, to: e.to }, 'Series state changed.'); });

  const ports = (): { dimse: number | null; http: number | null } => {
    const a = http?.server.address();
    return { dimse: dimse?.port() ?? null, http: a && typeof a === 'object' ? a.port : null };
  };
  return {
    db, events, config: cfg, readiness, ports, folder,
    async start() {
      finder = await loadFindHasher(keysDir);
      // Nothing runs yet: whatever is in the work directory was left by a killed job, drop read or upload.
      const work = await sweepWorkDir(layout, log);
      const spool = await reconcileSpool(layout, db, log);
      slots.adopt(spool.freeSlots);
      await slots.prime();
      const recovered = assembler.recoverAfterRestart();
      let tempFiles = 0;
      for (const [id, sink] of sinks) {
        // A sink that cannot be cleaned now (its folder unreachable) is cleaned at the next start.
        tempFiles += await (sink.recover?.() ?? Promise.resolve(0)).catch((err: unknown) => {
          log.warn({ err, sink: id }, 'Removing what a killed delivery left behind failed.');
          return 0;
        });
      }
      const retained = await retention.recover();
      log.info({ ...recovered, orphanFiles: spool.removed, freeSlots: slots.ready, workEntries: work, sinkTempFiles: tempFiles, originals: retained }, 'Recovered state from the previous run.');
      logAnonymisation(cfg, log);
      for (const [id, sink] of sinks) {
        await sink.healthcheck(AbortSignal.timeout(10_000)).catch((err: unknown) => {
          log.warn({ err, sink: id }, 'Sink healthcheck failed; deliveries will retry.');
        });
      }
      route.start();
      notifier.start();
      worker.start();
      router.start();
      assembler.start();
      retention.start();
      if (cfg.http.enabled) {
        http = buildStatusServer({
          log, stats, rates, metrics, readiness, clock, importFolder: () => (folder ? { ...folder.status(), recent: ledger.recent(10) } : null),
          circuits: () => breakers.status(), delivery: () => delivery.status(),
          jobs: {
            list: (q) => jobs.list(q), get: (id) => jobs.get(id), adminTokenFile: cfg.http.adminTokenFile,
            requeue: (id, by) => {
              const j = jobs.requeue(id, by);
              if (j) {worker.notify();}
              return j;
            },
          },
          routing: {
            get: (id) => routes.get(id), counts: () => routes.counts(), rules: () => route.rules(),
            release: (id, by, note) => {
              const r = releaseSeries(releaseDeps, id, by, note);
              if (r.ok) {worker.notify();}
              return r;
            },
            explainUpload: (file, signal) => explainUpload(route, cfg, file, signal, space),
            adminTokenFile: cfg.http.adminTokenFile, uploadDir: layout.workDir, explainMaxBytes: cfg.http.explainMaxBytes,
            explainNeedsAdmin: !isLoopback(cfg.http.host), reserveUpload: (bytes) => space.reserve(layout.workDir, bytes),
          },
          spool: {
            holdings: () => originals.holdings(), adminTokenFile: cfg.http.adminTokenFile,
            retainDelivered: cfg.spool.retainDelivered === 0 ? 0 : { maxBytes: cfg.spool.retainDelivered.maxBytes, maxAgeMs: cfg.spool.retainDelivered.maxAgeMs },
            discard: (id, by, reason) => discardSeries(discardDeps, id, by, reason), originals: (id) => originals.get(id),
          },
          quietPeriodMs: cfg.series.quietPeriodMs, access,
          console: composeConsole({
            cfg, db, clock, finder: () => finder, ledger, problems: () => notifier.recent(),
            sources: () => ({
              dimse: dimse ? { listening: dimse.listening(), aeTitle: cfg.dimse.aeTitle, host: cfg.dimse.host, port: dimse.port() } : null,
              folder: folder ? { path: cfg.folder.path ?? '', stableMs: cfg.folder.stableMs, readyMarker: cfg.folder.readyMarker } : null,
            }),
          }, access),
        });
        await http.listen({ host: cfg.http.host, port: cfg.http.port });
        log.info({ host: cfg.http.host, port: ports().http }, 'Status server listening.');
        if (!isLoopback(cfg.http.host) && cfg.http.host !== 'localhost' && cfg.http.auth === 'actions') {
          log.warn({ host: cfg.http.host }, 'The status server and console are reachable beyond this machine and reading needs no sign-in; set http.auth: all to require it.');
        }
      }
      // Accept data last: everything that handles it is running.
      await dimse?.start(intake);
      await folder?.start(intake);
      log.info({ dataDir: cfg.dataDir }, 'xnat-gateway started.');
    },
    async stop() {
      await dimse?.stop();
      await folder?.stop();
      assembler.stop();
      await router.stop();
      await worker.stop({ deadlineMs: cfg.workers.shutdownGraceMs });
      await retention.stop();
      later.stop();
      await route.close();
      await http?.close();
      await notifier.stop();
      metrics.close();
      delivery.close();
      unsubscribeRates();
      unsubscribeAudit();
      flushDurable();
      db.close();
      log.info('xnat-gateway stopped.');
    },
  };
}
