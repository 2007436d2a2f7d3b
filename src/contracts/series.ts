//! The read-only view of one series batch that transforms and sinks work on.

/** One instance as held in the spool. `path` is absolute. */
export interface SnapshotInstance {
  readonly instanceId: number;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  readonly instanceNumber: number | null;
  readonly path: string;
  readonly size: number;
}

/** A completed series batch: what a transform reads and a sink delivers. */
export interface SeriesSnapshot {
  readonly seriesId: number;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  /** 1 for the first delivery; >1 for instances that arrived after an earlier batch completed. */
  readonly batch: number;
  readonly modality: string | null;
  readonly instances: readonly SnapshotInstance[];
  /** The target XNAT project chosen by the router (quarantine protocol). */
  readonly project?: string;
  /** The study whose XNAT session this series joins when it is not its own: an RT object routed
   *  with images of another study is filed in their session. */
  readonly sessionStudyUid?: string;
  /** XNAT labels set by the anonymise transform; sinks file the series under them. */
  readonly labels?: SeriesLabels;
}

/** Where a series goes in XNAT: project, subject and session (experiment) labels, all XNAT-safe. */
export interface SeriesLabels {
  readonly project: string;
  readonly subject: string;
  readonly session: string;
}
