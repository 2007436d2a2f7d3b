//! Composition root: config → components → start order; stop in reverse.
// The only module that imports across components (STYLE §3.2).
import { mkdirSync, chmodSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { systemClock, type Clock } from './clock.ts';
import type { Config, SinkConfig } from './config/schema.ts';
import { createEvents, type DaemonEvents } from './events.ts';
import type { Logger } from './log.ts';
import type { ComponentContext, Intake, Sink } from './pipeline/contracts.ts';
import { createWorker, type Worker } from './pipeline/worker.ts';
import { openDb, type Db } from './queue/db.ts';
import { createAssociationStore } from './queue/associations.ts';
import { createInstanceStore } from './queue/instances.ts';
import { createJobStore } from './queue/jobs.ts';
import { createStats } from './queue/stats.ts';
import { createAssembler, type Assembler } from './series/assembler.ts';
import { createSnapshotLoader } from './series/snapshot.ts';
import { create as createFolderSink } from './sinks/folder/index.ts';
import { create as createDimseSource, type DimseSource } from './sources/dimse/index.ts';
import { create as createFolderSource, type FolderSource } from './sources/folder/index.ts';
import { createDropReader, type DropPaths, type DropProgress } from './sources/folder/drop-reader.ts';
import { nameMatcher } from './sources/folder/names.ts';
import { scanDrop } from './sources/folder/scan.ts';
import { createDropLedger } from './queue/drops.ts';
import { createAuditLog } from './queue/audit.ts';
import { createPseudonymLedger } from './queue/pseudonyms.ts';
import { create as createAnonymise } from './transforms/anonymise/index.ts';
import { createScriptLoader } from './transforms/anonymise/script.ts';
import { createAdmission, type AdmissionControl } from './spool/admission.ts';
import { createIntake } from './spool/intake.ts';
import { layoutFor, type Layout } from './spool/layout.ts';
import { reconcileSpool } from './spool/reconcile.ts';
import { createSlotPool, type SlotPool } from './spool/slots.ts';
import { createMetrics, type Metrics } from './status/metrics.ts';
import { createRateTracker } from './status/rates.ts';
import type { Readiness } from './status/readiness.ts';
import { buildStatusServer } from './status/server.ts';

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

/** One factory per sink type: a type added to the config schema does not compile until it has one here. */
const SINK_FACTORIES: { [K in SinkConfig['type']]: (s: Extract<SinkConfig, { type: K }>, ctx: ComponentContext) => Sink } = {
  folder: (s, ctx) => createFolderSink({ path: s.path ?? '' }, ctx),
};

function buildSinks(cfg: Config, log: Logger, clock: Clock, events: DaemonEvents): Map<string, Sink> {
  const sinks = new Map<string, Sink>();
  cfg.sinks.forEach((s, i) => {
    const id = cfg.sinks.length === 1 ? s.type : `${s.type}-${String(i + 1)}`;
    const ctx = { log: log.child({ component: `sink:${id}` }), clock, events };
    sinks.set(id, { ...SINK_FACTORIES[s.type](s, ctx), id });
  });
  return sinks;
}

/** Runs every sink's healthcheck (for `check-config`); returns one problem per failing sink. */
export async function checkSinks(cfg: Config, log: Logger): Promise<string[]> {
  const problems: string[] = [];
  for (const [id, sink] of buildSinks(cfg, log, systemClock, createEvents())) {
    await sink.healthcheck(AbortSignal.timeout(10_000)).catch((err: unknown) => problems.push(`sink ${id}: ${err instanceof Error ? err.message : String(err)}`));
  }
  return problems;
}

/** The intake and what it stands on (stores, admission, spool slots): the daemon's and `import`'s. */
function composeIntake(cfg: Config, db: Db, o: { layout: Layout; clock: Clock; events: DaemonEvents; log: Logger; freeBytes?: ((dir: string) => number) | undefined }): { intake: Intake; admission: AdmissionControl; slots: SlotPool } {
  const { layout, clock, log } = o;
  const associations = createAssociationStore(db);
  const instances = createInstanceStore(db);
  const admission = createAdmission({
    dataDir: layout.dataDir, clock, minFreeBytes: cfg.spool.minFreeBytes,
    maxPendingInstances: cfg.spool.maxPendingInstances, pendingCount: () => instances.pendingCount(),
    ...(o.freeBytes ? { freeBytes: o.freeBytes } : {}),
  });
  const slots = createSlotPool(layout.spoolDir, { onError: (err) => { log.error({ err }, 'Creating spool slots failed.'); } });
  const { begin } = createIntake({
    layout, slots, instances, associations, clock, events: o.events, log: log.child({ component: 'intake' }),
    admission: () => admission.check(), maxInstanceBytes: cfg.dimse.maxInstanceBytes,
  });
  const intake: Intake = {
    admission: () => admission.check(),
    openAssociation: (a) => associations.open({ ...a, at: clock.now() }).uid,
    closeAssociation: (uid, outcome) => { associations.close(uid, outcome, clock.now()); },
    begin,
  };
  return { intake, admission, slots };
}

/** Import-folder paths; `root` is the watched folder, or the parent of a one-shot import. */
function folderPaths(cfg: Config, layout: Layout, root: string): DropPaths {
  return {
    root, processedDir: cfg.folder.processedDir ?? join(layout.dataDir, 'processed'),
    rejectedDir: cfg.folder.rejectedDir ?? join(layout.dataDir, 'rejected'), workDir: layout.workDir,
  };
}

/** Says at start-up what leaves the gateway: identifiable data (profile none) is an explicit, logged choice. */
function logAnonymisation(cfg: Config, log: Logger): void {
  const a = cfg.anonymise;
  const none = [a.profile === 'none' ? `default (${a.project})` : null, ...Object.entries(a.projects).filter(([, p]) => p.profile === 'none').map(([n]) => n)].filter((x) => x !== null);
  if (none.length) {log.warn({ projects: none }, 'Anonymisation profile "none": identifiable data is forwarded unchanged to these projects.');}
  log.info({ profile: a.profile, project: a.project, projects: Object.keys(a.projects) }, 'De-identification before delivery.');
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
  const jobs = createJobStore(db, clock, { leaseMs: cfg.workers.leaseMs, events });
  const stats = createStats(db);
  const { admission, slots, intake } = composeIntake(cfg, db, { layout, clock, events, log, freeBytes: o.freeBytes });
  const sinks = buildSinks(cfg, log, clock, events);
  const anonymise = createAnonymise(cfg.anonymise, { log: log.child({ component: 'transform:anonymise' }), clock, events }, {
    ledger: createPseudonymLedger(db), keysDir: cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys'), script: createScriptLoader(),
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
    backoff: { baseMs: cfg.workers.backoffBaseMs, maxMs: cfg.workers.backoffMaxMs },
  });
  const assembler: Assembler = createAssembler({
    db, clock, events, log: log.child({ component: 'series' }), quietPeriodMs: cfg.series.quietPeriodMs,
    checkIntervalMs: cfg.series.checkIntervalMs, sinks: [...sinks.keys()], maxAttempts: cfg.workers.maxAttempts,
    jobs, onEnqueued: () => { worker.notify(); },
  });
  const dimse: DimseSource | null = cfg.dimse.enabled
    ? createDimseSource(cfg.dimse, { log: log.child({ component: 'source:dimse' }), clock, events })
    : null;
  const ledger = createDropLedger(db);
  const folder: FolderSource | null = cfg.folder.enabled
    ? createFolderSource(cfg.folder, {
        log: log.child({ component: 'source:folder' }), clock, events, ledger,
        paths: folderPaths(cfg, layout, cfg.folder.path ?? join(layout.dataDir, 'import')),
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
    return { receiverListening: listening, dbWritable: writable, diskFreeBytes: r.freeBytes, diskMinFreeBytes: cfg.spool.minFreeBytes, backlogOk: r.pendingInstances <= cfg.spool.maxPendingInstances, reasons };
  };
  const rates = createRateTracker(clock);
  const unsubscribeRates = rates.subscribe(events);
  const metrics: Metrics = createMetrics({ events, stats, clock, readiness });
  let http: FastifyInstance | null = null;
  events.on('series.state', (e) => { log.info({ seriesId: e.seriesId, batch: e.batch, from: e.from, to: e.to }, 'Series state changed.'); });

  const ports = (): { dimse: number | null; http: number | null } => {
    const a = http?.server.address();
    return { dimse: dimse?.port() ?? null, http: a && typeof a === 'object' ? a.port : null };
  };
  return {
    db, events, config: cfg, readiness, ports, folder,
    async start() {
      const spool = await reconcileSpool(layout, db, log);
      slots.adopt(spool.freeSlots);
      await slots.prime();
      const recovered = assembler.recoverAfterRestart();
      log.info({ ...recovered, orphanFiles: spool.removed, freeSlots: slots.ready }, 'Recovered state from the previous run.');
      logAnonymisation(cfg, log);
      for (const [id, sink] of sinks) {
        await sink.healthcheck(AbortSignal.timeout(10_000)).catch((err: unknown) => {
          log.warn({ err, sink: id }, 'Sink healthcheck failed; deliveries will retry.');
        });
      }
      worker.start();
      assembler.start();
      if (cfg.http.enabled) {
        http = buildStatusServer({ log, stats, rates, metrics, readiness, clock, importFolder: () => (folder ? { ...folder.status(), recent: ledger.recent(10) } : null) });
        await http.listen({ host: cfg.http.host, port: cfg.http.port });
        log.info({ host: cfg.http.host, port: ports().http }, 'Status server listening.');
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
      await worker.stop({ deadlineMs: cfg.workers.shutdownGraceMs });
      await http?.close();
      metrics.close();
      unsubscribeRates();
      unsubscribeAudit();
      db.close();
      log.info('xnat-gateway stopped.');
    },
  };
}

export interface ImportSummary {
  readonly dropId: number;
  readonly files: number;
  readonly spooled: number;
  readonly ignored: number;
  readonly rejected: readonly { readonly file: string; readonly code: string; readonly reason: string }[];
  /** False when the folder kept changing or files stayed unreadable and it could not be read whole. */
  readonly complete: boolean;
}

/**
 * `xnat-gateway import DIR`: reads one folder into the spool and queue through the same intake and
 * drop reader as the watched folder, without watching and without moving anything. Safe beside a
 * running daemon (SQLite WAL, its own spool slots); the daemon's assembler completes the series.
 */
export async function importFolderOnce(cfg: Config, dir: string, o: { log: Logger; onProgress?: (p: DropProgress) => void; clock?: Clock }): Promise<ImportSummary> {
  const clock = o.clock ?? systemClock;
  const log = o.log;
  const layout = layoutFor(cfg.dataDir);
  for (const d of [layout.dataDir, layout.spoolDir, layout.workDir]) {mkdirSync(d, { recursive: true, mode: 0o750 });}
  const db = openDb(layout.dbFile);
  // No spool reconciliation here: a running daemon may have writes in flight; our slots are our own.
  const { slots, intake } = composeIntake(cfg, db, { layout, clock, events: createEvents(), log });
  const ledger = createDropLedger(db);
  const abs = await realpath(resolve(dir));
  const root = dirname(abs);
  const name = basename(abs);
  const paths = folderPaths(cfg, layout, root);
  const reader = createDropReader({ intake, ledger, log, clock, cfg: cfg.folder, paths, stopping: () => false, keepInPlace: true });
  const isInProgress = nameMatcher([]);
  const attempts = new Map<string, number>();
  let complete = false;
  try {
    await slots.prime();
    // The user says the folder is complete: no stability wait. A file that changes while it is
    // read, or stays unreadable, gets a few more passes (one second apart).
    for (let pass = 0; pass < Math.max(3, cfg.folder.readAttempts) + 1 && !complete; pass++) {
      if (pass) {await sleep(1000);}
      const scan = await scanDrop(root, name, { realRoot: root, isInProgress, marker: null });
      complete = (await reader.read(name, scan.files.length === 1 && scan.files[0]?.rel === '' ? 'file' : 'folder', scan, attempts, o.onProgress)) === 'released';
    }
    const drop = ledger.latest(root, name);
    if (!drop) {throw new Error('The import left no drop record.');}
    // Given up: let what was read complete and be delivered; a later run adds the rest.
    const open = complete ? null : ledger.openAssociation(drop.id);
    if (open !== null) {intake.closeAssociation(open, 'dropped');}
    const rejected = [...ledger.handled(drop.id).values()].filter((f) => f.outcome === 'rejected')
      .map((f) => ({ file: f.rel || name, code: f.code ?? '', reason: f.reason ?? '' }));
    return { dropId: drop.id, files: drop.filesTotal, spooled: drop.filesSpooled, ignored: drop.filesIgnored, rejected, complete };
  } finally {
    db.close();
  }
}
