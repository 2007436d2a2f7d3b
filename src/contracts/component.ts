//! The only core types a component (source, transform, sink) imports.
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

/**
 * What a source is given to hand instances over. Sources never import spool or queue: the only
 * way to get a Success for the sender is `IncomingInstance.finish()` resolving ok, which happens
 * after fsync + rename + directory fsync + SQLite commit.
 */
/** What a source says when a sender connects (or a drop starts); only `source` and `peerIp` are required. */
export interface AssociationOpening {
  /** The source's registry type ('dimse', 'folder', …); the intake refuses a type it does not know. */
  readonly source: string;
  /** The sender's address; '' for a local drop. */
  readonly peerIp: string;
  /** Who sent, as the source knows them: the calling AE title (DICOM), a token name (STOW-RS). */
  readonly sender?: string;
  /** What the sender called this gateway, for sources that have it (the DICOM called AE title). */
  readonly calledAe?: string;
  /** True when the source emits association.opened/closed itself; otherwise the intake does. */
  readonly reportsEvents?: boolean;
}

export interface Intake {
  /** Back-pressure check: disk below the watermark, or too much undelivered work. */
  admission(): Admission;
  /** Records an association (or drop) as open; its series stay 'receiving' until it closes. */
  openAssociation(a: AssociationOpening): string;
  closeAssociation(uid: string, outcome: 'released' | 'aborted' | 'dropped'): void;
  /** Opens a temp spool file for one instance. */
  begin(meta: IncomingMeta): IncomingInstance;
  /**
   * Free space for a source's own scratch files (a zip unpacked under the work directory), taken
   * before writing: null when `bytes` more on `dir`'s file system would go below the watermark.
   */
  reserveSpace(dir: string, bytes: number): SpaceReservation | null;
  /** What could still be reserved on `dir`'s file system, read now. */
  space(dir: string): SpaceReading;
}

/**
 * A source hands instances to the Intake it is given at start (src/contracts/lifecycle.ts). Its
 * `ready()` gates /readyz (a listener that is down); its `describe()` is its part of /status.
 */
export interface Source extends Lifecycle<Intake> {
  /** What the source knows of the studies it brought in beyond their instances (a pull list's labels); most have none. */
  readonly studyLabels?: StudyLabels;
}

/**
 * Labels a source was given for a study (a pull list row's Project, Subject and Session columns).
 * The router and the pseudonym ledger ask every source (src/app/registry.ts); the first answer
 * wins, and none leaves the series to the routing rules and the pseudonym patterns.
 */
export interface StudyLabels {
  /** The XNAT project for spool series `seriesId` in place of the hospital project (never of quarantine), or null. */
  projectFor(seriesId: number): string | null;
  /**
   * The XNAT subject and session labels the study is to get in `project` when its session is first
   * assigned (either may be null: that one comes from the pseudonym ledger), or null for none.
   */
  labelsFor(project: string, studyInstanceUid: string): GivenLabels | null;
}

/** XNAT labels a source was given for a study; null: not given. */
export interface GivenLabels {
  readonly subject: string | null;
  readonly session: string | null;
}

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

/** What became of one file of an import-folder drop. */
export type DropFileOutcome = 'stored' | 'duplicate' | 'replaced' | 'rejected' | 'ignored';

export interface DropFileRecord {
  /** Path inside the drop, '/'-separated (for a .zip entry: `archive.zip/inner/path`). */
  readonly rel: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly outcome: DropFileOutcome;
  readonly instanceId?: number | null;
  readonly code?: string | null;
  readonly reason?: string | null;
}

/** vanished: the drop disappeared from the import folder before it was read whole. */
export type DropState = 'reading' | 'releasing' | 'released' | 'vanished';

export interface DropRecord {
  readonly id: number;
  readonly root: string;
  readonly name: string;
  readonly kind: 'folder' | 'file';
  readonly state: DropState;
  readonly filesTotal: number;
  readonly filesSpooled: number;
  readonly filesRejected: number;
  readonly filesIgnored: number;
  readonly startedAt: number;
  readonly releasedAt: number | null;
  readonly disposition: string | null;
  readonly rejectedTo: string | null;
  readonly associationUid: string | null;
}

/**
 * The folder source's durable progress ledger (a drop is "acknowledged" by releasing its files,
 * so which files are already handed off must survive a crash). Implemented over SQLite.
 */
export interface DropLedger {
  /** The unreleased drop of that name under `root`, or a new one. */
  begin(d: { root: string; name: string; kind: 'folder' | 'file'; at: number }): { drop: DropRecord; resumed: boolean };
  /** Files of this drop already handled, by relative path. */
  handled(dropId: number): Map<string, DropFileRecord>;
  /** Records handled files (one transaction) and refreshes the drop's counters. */
  record(dropId: number, files: readonly DropFileRecord[], at: number): void;
  setTotal(dropId: number, filesTotal: number): void;
  /** Every file is handed off; records where the drop and its rejected files are going (kept for retries). */
  markReleasing(dropId: number, plan: { disposition: string; rejectedTo: string | null }): void;
  markReleased(dropId: number, at: number): void;
  /** The association this drop's instances are recorded under, if it is still open. */
  openAssociation(dropId: number): string | null;
  setAssociation(dropId: number, associationUid: string): void;
  /** Drops under `root` not released yet ('reading' or 'releasing'), e.g. left by the previous process. */
  unreleased(root: string): DropRecord[];
  /** The drop left the import folder before it was read whole (someone moved it away). */
  markVanished(dropId: number, at: number): void;
  get(dropId: number): DropRecord | undefined;
  /** The newest drop of that name under `root`, whatever its state. */
  latest(root: string, name: string): DropRecord | undefined;
  /** Most recent drops first. */
  recent(limit: number): DropRecord[];
}

/** How a project's subject labels are assigned (config `anonymise.projects.<P>.pseudonyms`). */
export type PseudonymMode = 'auto' | 'lookup';

/** One row of the pseudonym ledger as exported for the data controller (original → new). */
export interface PseudonymRow {
  readonly project: string;
  readonly kind: 'subject' | 'session';
  /** subject: IssuerOfPatientID ('' when absent); session: the subject label it belongs to. */
  readonly issuer: string;
  /** subject: the original PatientID; session: the original StudyInstanceUID. */
  readonly original: string;
  readonly label: string;
  /** 'auto' (assigned from the pattern) or 'lookup' (imported from a CSV table). */
  readonly source: PseudonymMode;
  readonly createdAt: number;
}

/**
 * The anonymise transform's persistent identity ledger, per target project: original patient →
 * subject label, original study → session label, and every UID the keyed UID function produced
 * (so references can be checked against what this project already sent). Implemented over SQLite;
 * the database file is owner-only because it maps pseudonyms back to patients.
 */
/** A study's session in the ledger, and whom it was assigned for. */
export interface SessionAssignment {
  readonly label: string;
  /** The subject label the session was assigned under. */
  readonly subject: string;
  /** The patient it was assigned for; null for sessions recorded before the ledger kept it (compare `subject`). */
  readonly patient: { readonly issuer: string; readonly patientId: string } | null;
}

export interface PseudonymLedger {
  /**
   * The subject label of (issuer, patientId) in `project`. In 'auto' mode an unknown patient gets
   * the next label from `pattern` (`{project}`, `{seq:06}`) in the same transaction; in 'lookup'
   * mode an unknown patient gives null (the series is held, never sent with a guessed label).
   */
  subject(q: {
    project: string;
    issuer: string;
    patientId: string;
    mode: PseudonymMode;
    pattern: string;
    at: number;
    /**
     * The study the series belongs to. The SQLite ledger files subjects by patient only; the
     * daemon's view of it (withStudyLabels, src/app/registry.ts) answers with the subject label a
     * source was given for a study not filed yet (a pull row's Subject), without assigning one.
     */
    studyUid?: string;
  }): string | null;
  /**
   * The session of `studyUid` in `project`, assigning the next label from `pattern` (`{subject}`,
   * `{project}`, `{seq:02}`, seq counted per subject) for the patient (issuer, patientId) when the
   * study is new. `firstLabel`: the first study gets it as it is and later ones `<firstLabel>_2`, …
   * (profile none). The answer names the patient the session was assigned for, so the caller can
   * refuse a study arriving under another patient, and the subject it is filed under (the one it
   * was first assigned under: later series of the study join it there). The daemon's view
   * (withStudyLabels) assigns a new study under the subject and session labels a source gave it.
   */
  session(q: {
    project: string;
    subject: string;
    studyUid: string;
    pattern: string;
    at: number;
    issuer: string;
    patientId: string;
    firstLabel?: string;
  }): SessionAssignment;
  /** The session `studyUid` already has in `project`, or null (a read: nothing is assigned). */
  studySession(project: string, studyUid: string): SessionAssignment | null;
  /** Records original → replacement UID pairs (idempotent; one transaction). */
  recordUids(project: string, pairs: ReadonlyMap<string, string>, at: number): void;
  /** Which of `uids` this project's UID function has produced before (replacement values). */
  knownReplacements(project: string, uids: readonly string[]): Set<string>;
  /** Imports a lookup table (original PatientID [+ issuer] → subject label); returns rows added or changed. */
  importLookup(
    project: string,
    rows: readonly { issuer: string; patientId: string; subject: string }[],
    at: number,
  ): number;
  /** Every subject and session mapping, optionally of one project, oldest first. */
  rows(project?: string): PseudonymRow[];
}
