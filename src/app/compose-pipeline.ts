//! The pipeline behind the intake: the assembler completes batches, the router routes them, the worker delivers.
// Each stage wakes the next (onCompleted → router.notify, onEnqueued → worker.notify) instead of
// waiting for its poll; SQLite stays the hand-over between them, so a missed wake-up costs only time.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { Sink, Transform } from '../contracts/component.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { createRouter, type Router } from '../pipeline/router.ts';
import { createWorker, type Worker } from '../pipeline/worker.ts';
import type { Breakers } from '../resilience/breaker.ts';
import { createAssembler, type Assembler } from '../series/assembler.ts';
import { createSnapshotLoader } from '../series/snapshot.ts';
import type { DiskSpace } from '../spool/disk-space.ts';
import type { Layout } from '../spool/layout.ts';
import type { JobStore } from '../store/jobs.ts';
import type { Db } from '../store/sqlite/db.ts';
import type { RouteStore } from '../store/routes.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import type { Route } from '../transforms/route/index.ts';

/** What the three stages are built from. */
export interface PipelineParts {
  readonly cfg: Config;
  /** This gateway's node id (src/app/node-id.ts): recovery closes only its own associations. */
  readonly nodeId: string;
  readonly db: Db;
  readonly jobs: JobStore;
  readonly routes: RouteStore;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  readonly layout: Layout;
  readonly space: DiskSpace;
  readonly sinks: ReadonlyMap<string, Sink>;
  readonly sinksFor: (project: string) => readonly string[];
  readonly breakers: Breakers;
  readonly route: Route;
  readonly anonymise: Transform;
  /** The project a source named for a series batch (a pulled study), else null. */
  readonly projectFor: (seriesId: number) => Promise<string | null>;
}

export interface Pipeline {
  readonly worker: Worker;
  readonly router: Router;
  readonly assembler: Assembler;
}

export function composePipeline(p: PipelineParts): Pipeline {
  const { cfg, db, jobs, clock, events, log, layout } = p;
  const worker: Worker = createWorker({
    jobs,
    clock,
    events,
    log: log.child({ component: 'worker' }),
    concurrency: cfg.workers.concurrency,
    leaseMs: cfg.workers.leaseMs,
    pollIntervalMs: cfg.workers.pollIntervalMs,
    sinks: p.sinks,
    transforms: [p.anonymise],
    loadSnapshot: createSnapshotLoader(db, layout.spoolDir),
    workRoot: layout.workDir,
    backoff: { baseMs: cfg.workers.backoffBaseMs, maxMs: cfg.workers.backoffMaxMs },
    breakers: p.breakers,
    reserveSpace: (dir, bytes) => p.space.reserve(dir, bytes),
  });
  const router: Router = createRouter({
    db,
    uow: sqliteUnitOfWork(db),
    routes: p.routes,
    jobs,
    clock,
    events,
    log: log.child({ component: 'router' }),
    decide: (s, signal) => p.route.decide(s, signal),
    rulesHash: () => p.route.rules().hash,
    loadSnapshot: createSnapshotLoader(db, layout.spoolDir),
    projects: cfg.route,
    sinksFor: p.sinksFor,
    maxAttempts: cfg.workers.maxAttempts,
    rtWaitMs: cfg.route.rtWaitMs,
    checkIntervalMs: cfg.series.checkIntervalMs,
    onEnqueued: () => {
      worker.notify();
    },
    projectFor: p.projectFor,
  });
  const assembler: Assembler = createAssembler({
    db,
    clock,
    events,
    log: log.child({ component: 'series' }),
    quietPeriodMs: cfg.series.quietPeriodMs,
    checkIntervalMs: cfg.series.checkIntervalMs,
    jobs,
    nodeId: p.nodeId,
    onCompleted: () => {
      router.notify();
    },
  });
  return { worker, router, assembler };
}
