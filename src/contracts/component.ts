//! The core types every component imports (re-exported), and what the pipeline hands a transform or sink: the job, the delivery.
import type { Clock } from '../clock.ts';
import type { ErrorCode } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { ComponentContext, Lifecycle } from './lifecycle.ts';
import type { SeriesSnapshot } from './series.ts';
import type {
  Admission,
  IncomingInstance,
  IncomingMeta,
  IngestResult,
  SpaceReading,
  SpaceReservation,
} from './intake.ts';

export type {
  ComponentContext,
  Clock,
  DaemonEvents,
  Logger,
  SeriesSnapshot,
  Admission,
  IncomingInstance,
  IncomingMeta,
  IngestResult,
  SpaceReading,
  SpaceReservation,
};

export interface JobContext extends ComponentContext {
  readonly jobId: number;
  readonly attempt: number;
  /** Scratch directory for this job; removed after the job ends. */
  readonly workDir: string;
  readonly signal: AbortSignal;
  /**
   * Takes `bytes` of free space on `dir`'s file system for this attempt (a sink writing locally,
   * e.g. the outbox), held until the attempt ends. False when that would go below the watermark:
   * answer `retry` with code ERR_SPOOL_FULL (the attempt is given back). Absent: no accounting.
   */
  readonly reserveSpace?: (dir: string, bytes: number) => boolean;
}

/** A transform: the lifecycle every component shares (src/contracts/lifecycle.ts) and its rewrite. */
export interface Transform extends Lifecycle {
  /** Reads input files and writes new ones under ctx.workDir; never edits the spool. */
  apply(series: SeriesSnapshot, ctx: JobContext): Promise<SeriesSnapshot>;
}

/** What XNAT shows for a delivered session (prearchive status, or ARCHIVED; MISSING = not found). */
export type XnatSessionStatus = 'RECEIVING' | 'READY' | 'CONFLICT' | 'ERROR' | 'ARCHIVED' | 'MISSING';

/**
 * What a sink found out about a delivery beyond its outcome: XNAT's receipt URI, the session's
 * status and the scan/instance counts compared with what was sent. Stored with the job (JSON) and
 * shown in `/series/:id`; no patient data (labels are pseudonyms, UIDs are not included).
 */
export interface DeliveryDetail {
  readonly uri?: string;
  readonly xnatStatus?: XnatSessionStatus;
  /** Instances sent in this delivery, and how many of them XNAT holds (null: not countable yet). */
  readonly sent?: number;
  readonly found?: number | null;
  /** XNAT's own words for a conflict or failure, or what did not match. */
  readonly message?: string;
  /** C-STORE outcome per status, e.g. { "0000": 99, "A700": 1 }. */
  readonly statuses?: Readonly<Record<string, number>>;
}

export type Delivery =
  | { readonly outcome: 'delivered'; readonly receipt: string; readonly detail?: DeliveryDetail }
  | {
      readonly outcome: 'retry';
      readonly reason: string;
      readonly afterMs?: number;
      readonly detail?: DeliveryDetail;
      /** Registry code for the job's last_code (default ERR_SINK_RETRY). */
      readonly code?: ErrorCode;
      /**
       * The target failed, not this series: 'unavailable' (unreachable, 5xx, timeouts) counts towards
       * the sink's circuit breaker; 'auth' (credentials refused after a fresh login) opens it at once.
       * While the circuit is open the attempt is given back: a down XNAT does not use up attempts.
       */
      readonly sinkFault?: 'unavailable' | 'auth';
    }
  | {
      readonly outcome: 'rejected';
      readonly code: ErrorCode;
      readonly reason: string;
      readonly detail?: DeliveryDetail;
    };

/**
 * A sink: the lifecycle every component shares (src/contracts/lifecycle.ts; `start` sweeps what a
 * killed delivery left and runs the healthcheck, `ready` is the sink's health as last seen,
 * `describe` its target without secrets, for /status), and delivery. Built with `sinkLifecycle`
 * (src/contracts/sink-lifecycle.ts) from the parts below.
 */
export interface Sink extends Lifecycle {
  /** Cheap reachability probe: at start-up and in `check-config`. */
  healthcheck(signal: AbortSignal): Promise<void>;
  deliver(series: SeriesSnapshot, ctx: JobContext): Promise<Delivery>;
  /**
   * Removes what an attempt killed mid-way left behind (temp files), once at daemon start-up before
   * any delivery runs; never from `check-config`, which may run beside a daemon. Returns the count.
   */
  recover?(): Promise<number>;
}
