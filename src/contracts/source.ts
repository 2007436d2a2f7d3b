//! What a source is and what it is handed: the intake, the association it opens, the labels it may know.
import type { Lifecycle } from './lifecycle.ts';
import type { Admission, IncomingInstance, IncomingMeta, SpaceReading, SpaceReservation } from './intake.ts';

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

/**
 * What a source is given to hand instances over. Sources never import spool or queue: the only
 * way to get a Success for the sender is `IncomingInstance.finish()` resolving ok, which happens
 * after fsync + rename + directory fsync + SQLite commit.
 */
export interface Intake {
  /** Back-pressure check: disk below the watermark, or too much undelivered work. */
  admission(): Promise<Admission>;
  /**
   * Records an association (or drop) as open; its series stay 'receiving' until it closes.
   * Resolves with its uid once the row is committed; rejects when it cannot be recorded.
   */
  openAssociation(a: AssociationOpening): Promise<string>;
  /** Records it closed, now or (the database refusing writes) later: never throws. */
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
  projectFor(seriesId: number): Promise<string | null>;
  /**
   * The XNAT subject and session labels the study is to get in `project` when its session is first
   * assigned (either may be null: that one comes from the pseudonym ledger), or null for none.
   */
  labelsFor(project: string, studyInstanceUid: string): Promise<GivenLabels | null>;
}

/** XNAT labels a source was given for a study; null: not given. */
export interface GivenLabels {
  readonly subject: string | null;
  readonly session: string | null;
}
