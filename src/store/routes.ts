//! The routing ledger's contract: one decision per series batch, waiting RT objects and releases.
// The router (pipeline/router.ts) is the only writer; SQLite implementation: sqlite/routes.ts.
import type { RouteReason, RtReferences, Target } from '../contracts/routing.ts';

export type RouteState = 'waiting' | 'routed';

/** A series_routes row, parsed. Times are epoch ms. */
export interface RouteRecord {
  readonly seriesId: number;
  readonly state: RouteState;
  readonly target: Target;
  readonly project: string;
  readonly reasons: readonly RouteReason[];
  readonly rulesHash: string;
  readonly rt: RtReferences | null;
  readonly waitUntil: number | null;
  readonly groupSeriesId: number | null;
  readonly sessionStudyUid: string | null;
  readonly decidedAt: number;
  readonly routedAt: number | null;
  readonly releasedAt: number | null;
  readonly releasedBy: string | null;
}

/** A completed series batch that has no decision yet. */
export interface UnroutedSeries {
  readonly id: number;
  readonly batch: number;
  readonly studyUid: string;
  readonly seriesUid: string;
}

/** A routed series that an RT object refers to (by series UID or by one of its instances). */
export interface ReferencedSeries {
  readonly seriesId: number;
  readonly studyUid: string;
  readonly modality: string | null;
  readonly target: Target;
  readonly project: string;
  readonly sessionStudyUid: string | null;
}

/** How far an RT object's references are satisfied. */
export interface ReferenceResolution {
  /** Routed series it refers to, images (non-RT) first, then by id. */
  readonly routed: readonly ReferencedSeries[];
  /** Referenced series UIDs with no routed batch yet. */
  readonly missingSeries: readonly string[];
  /** Referenced SOP instance UIDs not in any routed series yet. */
  readonly missingInstances: number;
}

export interface RouteStore {
  unrouted(limit: number): Promise<UnroutedSeries[]>;
  get(seriesId: number): Promise<RouteRecord | undefined>;
  waiting(): Promise<RouteRecord[]>;
  /** The decision of the newest earlier batch of the same series, if any. */
  previousBatch(s: UnroutedSeries): Promise<RouteRecord | undefined>;
  resolve(refs: RtReferences): Promise<ReferenceResolution>;
  /** Inserts or replaces the decision (a waiting row becomes routed, a release rewrites it). */
  put(r: RouteRecord): Promise<void>;
  /** Series routed together with `seriesId` (RT objects that followed it). */
  grouped(seriesId: number): Promise<RouteRecord[]>;
  /** Waiting and quarantined (neither released nor discarded) batch counts, for /status and metrics. */
  counts(): Promise<{ waiting: number; quarantined: number; released: number }>;
  /** Latest batch id of a series UID (for `release <SeriesInstanceUID>`). */
  latestBatchOf(seriesUid: string): Promise<number | undefined>;
}
