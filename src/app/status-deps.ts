//! What the status server is given: the daemon's parts seen through the views its routes read and act on.
import { hostname } from 'node:os';
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DropLedger } from '../contracts/drops.ts';
import type { DaemonEvents } from '../events.ts';
import type { FindHasher } from '../find/digest.ts';
import type { Logger } from '../log.ts';
import type { CircuitStatus } from '../resilience/breaker.ts';
import { discardSeries, type DiscardDeps } from '../pipeline/discard.ts';
import { releaseSeries, type ReleaseDeps } from '../pipeline/release.ts';
import type { FolderSource } from '../sources/folder/index.ts';
import type { DiskSpace } from '../spool/disk-space.ts';
import type { Layout } from '../spool/layout.ts';
import type { Problem } from '../status/console/types.ts';
import type { DeliveryHealth } from '../status/delivery-health.ts';
import type { StatusDeps } from '../status/deps.ts';
import { isLoopback } from '../status/access.ts';
import type { Metrics } from '../status/metrics.ts';
import type { RateTracker } from '../status/rates.ts';
import type { Readiness } from '../status/readiness.ts';
import type { Db } from '../store/sqlite/db.ts';
import type { JobStore } from '../store/jobs.ts';
import type { OriginalsStore } from '../store/originals.ts';
import type { RouteStore } from '../store/routes.ts';
import type { Stats } from '../store/stats.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import type { Route } from '../transforms/route/index.ts';
import { composeAccess, composeConsole } from './compose-console.ts';
import { explainUpload } from './explain.ts';
import type { BuiltSource } from './registry.ts';
import { pullSourceOf, SOURCE_LABELS, SOURCE_TITLES, SOURCE_TYPES } from './registry.ts';
import type { Lifecycle } from '../contracts/lifecycle.ts';

/** The daemon's parts the status server reads. */
export interface StatusParts {
  readonly cfg: Config;
  readonly log: Logger;
  readonly clock: Clock;
  readonly db: Db;
  readonly layout: Layout;
  readonly space: DiskSpace;
  readonly stats: Stats;
  readonly rates: RateTracker;
  readonly metrics: Metrics;
  readonly readiness: () => Promise<Readiness>;
  readonly delivery: DeliveryHealth;
  readonly circuits: () => readonly CircuitStatus[];
  readonly jobs: JobStore;
  readonly routes: RouteStore;
  readonly route: Route;
  readonly originals: OriginalsStore;
  readonly ledger: DropLedger;
  readonly sources: readonly BuiltSource[];
  /** The sinks by id: /status shows each one's lifecycle view beside its job counts. */
  readonly sinks: ReadonlyMap<string, Lifecycle>;
  /** The transforms in the order a batch meets them. */
  readonly transforms: readonly Lifecycle[];
  readonly finder: () => FindHasher | null;
  readonly problems: () => readonly Problem[];
  readonly events: DaemonEvents;
  /** Sink ids a series for a project is delivered to (a release queues its jobs afresh). */
  readonly sinksFor: (project: string) => readonly string[];
  /** New work for the worker (a requeue or a release). */
  readonly wakeWorker: () => void;
}

const numberOrNull = (v: unknown): number | null => (typeof v === 'number' ? v : null);

/** Links in messages: notify.consoleUrl, else this host and the status port as bound. */
export function consoleUrlFor(cfg: Config, httpPort: () => number | null): () => string {
  return () =>
    cfg.notify.consoleUrl?.replace(/\/+$/, '') ??
    `http://${['0.0.0.0', '::'].includes(cfg.http.host) ? hostname() : cfg.http.host}:${String(httpPort() ?? cfg.http.port)}`;
}

export function composeStatusDeps(p: StatusParts): StatusDeps {
  const { cfg, jobs, routes, route, originals, space, layout } = p;
  const access = composeAccess(cfg, p.clock);
  const sourceOf = (type: string) => p.sources.find((s) => s.type === type)?.source ?? null;
  // The import folder's live state is shown on /status and the console (FolderSource.status()).
  const folder = sourceOf('folder') as FolderSource | null;
  const dimse = sourceOf('dimse');
  // Pulls from PACS: their routes and the console's Pulls page (PullSource's service, ledger and PACS).
  const pull = pullSourceOf(p.sources);
  const uow = sqliteUnitOfWork(p.db);
  // Operator actions on series: a release re-routes to the hospital project, a discard removes originals.
  const releaseDeps: ReleaseDeps = {
    db: p.db,
    uow,
    routes,
    jobs,
    clock: p.clock,
    events: p.events,
    projects: cfg.route,
    sinksFor: p.sinksFor,
    maxAttempts: cfg.workers.maxAttempts,
  };
  const discardDeps: DiscardDeps = {
    db: p.db,
    uow,
    jobs,
    routes,
    originals,
    clock: p.clock,
    events: p.events,
    spoolDir: layout.spoolDir,
  };
  return {
    sources: SOURCE_TYPES,
    sourceLabels: SOURCE_LABELS,
    sourceTitles: SOURCE_TITLES,
    components: () => p.sources.map((s) => s.source),
    sinkComponents: () => [...p.sinks.values()],
    transformComponents: () => p.transforms,
    log: p.log,
    stats: p.stats,
    rates: p.rates,
    metrics: p.metrics,
    readiness: p.readiness,
    clock: p.clock,
    importFolder: async () => (folder ? { ...folder.status(), recent: await p.ledger.recent(10) } : null),
    circuits: p.circuits,
    delivery: () => p.delivery.status(),
    jobs: {
      list: (q) => jobs.list(q),
      get: (id) => jobs.get(id),
      adminTokenFile: cfg.http.adminTokenFile,
      requeue: async (id, by) => {
        // The job read decides the answer (404, or 409 with the state it was in): the same unit.
        const r = await uow.run(async () => {
          const before = await jobs.get(id);
          return { before, job: before ? await jobs.requeue(id, by) : null };
        });
        // Woken after the commit: the worker's store calls must neither join this unit nor wait for it.
        if (r.job) {
          p.wakeWorker();
        }
        return r;
      },
    },
    routing: {
      get: (id) => routes.get(id),
      counts: () => routes.counts(),
      rules: () => route.rules(),
      release: async (id, by, note) => {
        const r = await releaseSeries(releaseDeps, id, by, note);
        if (r.ok) {
          p.wakeWorker();
        }
        return r;
      },
      explainUpload: (file, signal) => explainUpload(route, cfg, file, signal, space),
      adminTokenFile: cfg.http.adminTokenFile,
      uploadDir: layout.workDir,
      explainMaxBytes: cfg.http.explainMaxBytes,
      explainNeedsAdmin: !isLoopback(cfg.http.host),
      reserveUpload: (bytes) => space.reserve(layout.workDir, bytes),
    },
    spool: {
      holdings: () => originals.holdings(),
      adminTokenFile: cfg.http.adminTokenFile,
      retainDelivered:
        cfg.spool.retainDelivered === 0
          ? 0
          : { maxBytes: cfg.spool.retainDelivered.maxBytes, maxAgeMs: cfg.spool.retainDelivered.maxAgeMs },
      discard: (id, by, reason) => discardSeries(discardDeps, id, by, reason),
      originals: (id) => originals.get(id),
    },
    quietPeriodMs: cfg.series.quietPeriodMs,
    access,
    ...(pull
      ? {
          pulls: {
            service: pull.service,
            ledger: pull.ledger,
            verifies: pull.verifies,
            pacs: () => pull.pacs(),
            health: () => pull.pacsHealth(),
            adminTokenFile: cfg.http.adminTokenFile,
            needsAdmin: !isLoopback(cfg.http.host),
            maxFileBytes: cfg.pull.maxFileBytes,
          },
        }
      : {}),
    console: composeConsole(
      {
        cfg,
        db: p.db,
        clock: p.clock,
        finder: p.finder,
        ledger: p.ledger,
        problems: p.problems,
        // The console's source cards: the DICOM receiver and the import folder.
        sources: () => ({
          dimse: dimse
            ? {
                listening: dimse.ready().ready,
                aeTitle: cfg.dimse.aeTitle,
                host: cfg.dimse.host,
                port: numberOrNull(dimse.describe().port),
              }
            : null,
          folder: folder
            ? { path: cfg.folder.path ?? '', stableMs: cfg.folder.stableMs, readyMarker: cfg.folder.readyMarker }
            : null,
        }),
      },
      access,
    ),
  };
}
