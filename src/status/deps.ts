//! What the status server's route modules are given: the daemon's dependencies and the views they read.
// Types only, in a module of their own, so that server.ts (which registers the routes) and the
// routes (which use these types) do not import each other.
import type { Readable } from 'node:stream';
import type { Clock } from '../clock.ts';
import type { DropRecord } from '../contracts/drops.ts';
import type { SpaceReservation } from '../contracts/intake.ts';
import type { RulesStatus, SeriesDecision } from '../contracts/routing.ts';
import type { SourceId } from '../events.ts';
import type { Lifecycle } from '../contracts/lifecycle.ts';
import type { Logger } from '../log.ts';
import type { CircuitStatus } from '../resilience/breaker.ts';
import type { DiscardResult } from '../pipeline/discard.ts';
import type { ReleaseResult } from '../pipeline/release.ts';
import type { FolderStatus } from '../sources/folder/index.ts';
import type { PullService } from '../sources/pull/engine.ts';
import type { PacsHealth, PacsView } from '../sources/pull/index.ts';
import type { PullLedger } from '../contracts/pull-ledger.ts';
import type { Job, JobState } from '../store/jobs.ts';
import type { Holding, HoldingReason, OriginalsRecord } from '../store/originals.ts';
import type { RouteRecord } from '../store/routes.ts';
import type { Stats } from '../store/stats.ts';
import type { AccessOptions } from './access.ts';
import type { ConsoleDeps } from './console/types.ts';
import type { DeliveryHealth } from './delivery-health.ts';
import type { Metrics } from './metrics.ts';
import type { RateTracker } from './rates.ts';
import type { Readiness } from './readiness.ts';

export interface StatusDeps {
  /** The registered source types (src/app/registry.ts), in registry order. */
  sources: readonly SourceId[];
  /** The console's names of sources that have one (`SOURCE_LABELS`), by type; absent in bare tests. */
  sourceLabels?: Readonly<Record<string, string>>;
  /** The headings of the sources' cards on the console's overview, by type; absent in bare tests. */
  sourceTitles?: Readonly<Record<string, string>>;
  /** The running sources, for the `sources` part of /status (their ready() and describe()); absent in bare tests. */
  components?: () => readonly Lifecycle<never>[];
  /** The sinks (their ready() and describe()) for the `sinks` part of /status; absent in bare tests. */
  sinkComponents?: () => readonly Lifecycle<never>[];
  /** The transforms (their ready() and describe()) for the `transforms` part of /status; absent in bare tests. */
  transformComponents?: () => readonly Lifecycle<never>[];
  log: Logger;
  stats: Stats;
  rates: RateTracker;
  metrics: Metrics;
  /** Called per request to /readyz, /status and /metrics; must be cheap (cached statfs etc.). */
  readiness: () => Promise<Readiness>;
  clock: Clock;
  /** The watched import folder's live state and recent drops; absent or null when it is disabled. */
  importFolder?: () => Promise<(FolderStatus & { recent: readonly DropRecord[] }) | null>;
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
  /** Pulls from PACS (POST/GET /pulls…, GET /healthz/pacs, the console's Pulls page); absent without `pacs:`. */
  pulls?: PullsView;
}

/** What route modules receive: the deps plus the server's start time (epoch ms). */
export interface RouteDeps extends StatusDeps {
  startedAt: number;
  /** The one guarded way to explain an upload (POST /explain and the console); null without routing. */
  explainGate: ExplainGate | null;
}

/** What an uploaded file or zip holds, series by series (see Route.explain). */
export interface ExplainResult {
  readonly series: readonly {
    readonly studyInstanceUid: string;
    readonly seriesInstanceUid: string;
    readonly modality: string;
    readonly instances: number;
    readonly decision: SeriesDecision;
  }[];
  readonly skipped: readonly { readonly path: string; readonly reason: string }[];
}

/** What the status server needs from the router and route component. */
export interface RoutingView {
  get(seriesId: number): Promise<RouteRecord | undefined>;
  counts(): Promise<{ waiting: number; quarantined: number; released: number }>;
  rules(): RulesStatus;
  release(seriesId: number, by: string, note: string | null): Promise<ReleaseResult>;
  /** Explains an uploaded file (one DICOM instance, or a zip of a folder). */
  explainUpload(file: string, signal: AbortSignal): Promise<ExplainResult>;
  readonly adminTokenFile: string | null;
  /** Where uploads are written while they are explained (removed afterwards). */
  readonly uploadDir: string;
  readonly explainMaxBytes: number;
  /** POST /explain needs an admin token too: the server listens beyond loopback, where anyone could upload. */
  readonly explainNeedsAdmin?: boolean;
  /** Takes free space for an upload before it is written (DiskSpace.reserve on uploadDir); absent: no accounting. */
  readonly reserveUpload?: (bytes: number) => SpaceReservation | null;
}

export interface ExplainGate {
  /**
   * Streams `body` to a private folder under the routing view's upload folder and explains it;
   * paths in `skipped` are relative to the upload. Rejects with an UploadRefusal while another
   * upload is being explained (429), past http.explainMaxBytes (413) or without space (507).
   * `declaredBytes` (the request's Content-Length, 0 if unknown) is reserved before writing.
   */
  explain(body: Readable, o: { declaredBytes: number; signal: AbortSignal }): Promise<ExplainResult>;
}

/** What the daemon lends these routes: the spool's holdings, its retention policy, and discard. */
export interface SpoolView {
  holdings(): Promise<Record<HoldingReason, Holding>>;
  /** 0: delivered originals are removed; otherwise the keep caps. */
  readonly retainDelivered: 0 | { readonly maxBytes: number; readonly maxAgeMs: number | null };
  discard(seriesId: number, by: string, reason: string): Promise<DiscardResult>;
  /** What became of a batch's originals (retained, removed, discarded); undefined while the spool holds them. */
  originals(seriesId: number): Promise<OriginalsRecord | undefined>;
  readonly adminTokenFile: string | null;
}

/** What the status server needs of the pull source (src/sources/pull/). */
export interface PullsView {
  readonly service: Pick<PullService, 'submit' | 'pause' | 'resume' | 'cancel' | 'choose' | 'report'>;
  readonly ledger: Pick<PullLedger, 'pulls' | 'getPullByUid' | 'rows' | 'series'>;
  /** Whether delivered rows can become verified (an XNAT sink is configured). */
  readonly verifies: boolean;
  /** PACS names, AE titles, C-ECHO results, circuits (no PHI). */
  pacs(): readonly PacsView[];
  /** Every PACS answered its last C-ECHO; the reasons otherwise. */
  health(): PacsHealth;
  readonly adminTokenFile: string | null;
  /** The server listens beyond loopback: every write needs the admin token. */
  readonly needsAdmin: boolean;
  readonly maxFileBytes: number;
}

/** What the daemon lends these routes: the job store's admin actions and the token file. */
export interface JobsView {
  list(o: { state?: JobState; limit: number }): Promise<Job[]>;
  get(id: number): Promise<Job | undefined>;
  /**
   * Queues job `id` again now with attempts reset, read and requeued in one unit of work: `before`
   * is the job as it was (undefined: no such job), `job` as it is now (null: it was running or done).
   */
  requeue(id: number, by: string): Promise<{ before: Job | undefined; job: Job | null }>;
  readonly adminTokenFile: string | null;
}
