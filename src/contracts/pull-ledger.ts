//! The pull ledger: the durable record of every pull, its rows and their series, as an async store interface.
// Every method is one transaction: a row's state, attempts, counts and event move together, so a
// crash leaves each row as it was before or after a step, never in between. The interface is
// async (issue 22 puts every store behind one); src/store/sqlite/pulls.ts is the embedded implementation.
// Shared types: the pull source works the ledger, the store implements it, the status server reads it.
import type { RowState } from './pull-row-state.ts';
import type { GivenLabels } from './source.ts';

/** What a row asks for: an accession number, or a patient on a date or in a date range. */
export interface RowKey {
  readonly accessionNumber: string | null;
  readonly patientId: string | null;
  /** DA (YYYYMMDD) bounds, inclusive; equal for a single date; null when not given. */
  readonly studyDateFrom: string | null;
  readonly studyDateTo: string | null;
}

export interface RowLabels {
  readonly project: string | null;
  readonly subject: string | null;
  readonly session: string | null;
}

export interface ListRow {
  /** Line or spreadsheet row in the file. */
  readonly line: number;
  readonly state: 'pending' | 'invalid' | 'duplicate';
  readonly key: RowKey;
  readonly labels: RowLabels;
  /** What was changed to make the row usable ("whitespace removed from AccessionNumber"). */
  readonly notes: readonly string[];
  /** Why the row is invalid. */
  readonly reason: string | null;
  /** The earlier row's line, for a duplicate. */
  readonly duplicateOf: number | null;
}

export type PullState = 'active' | 'paused' | 'cancelled' | 'ended';

export interface PullRecord {
  readonly id: number;
  readonly uid: string;
  readonly pacs: string;
  readonly project: string | null;
  /** Null after the purge. */
  readonly fileName: string | null;
  readonly state: PullState;
  readonly pauseReason: string | null;
  readonly notes: readonly string[];
  readonly createdAt: number;
  readonly updatedAt: number;
  readonly endedAt: number | null;
  readonly purgeAt: number | null;
  readonly purgedAt: number | null;
  readonly rowsTotal: number;
  readonly counts: Readonly<Partial<Record<RowState, number>>>;
}

/** A study a row matched, as shown to the person choosing between candidates. */
export interface Candidate {
  readonly studyInstanceUid: string;
  readonly studyDate: string | null;
  readonly studyDescription: string | null;
  readonly modalities: string | null;
  readonly accessionNumber: string | null;
  readonly patientId: string | null;
  readonly instances: number | null;
}

export interface RetrieveCounts {
  readonly status: number | null;
  readonly completed: number | null;
  readonly failed: number | null;
  readonly warning: number | null;
}

export interface PullRow {
  readonly id: number;
  readonly pullId: number;
  readonly line: number;
  readonly state: RowState;
  /** Null fields after the purge. */
  readonly key: RowKey;
  readonly labels: RowLabels;
  readonly notes: readonly string[];
  readonly reason: string | null;
  readonly duplicateOf: number | null;
  readonly chosenStudyUid: string | null;
  readonly studyInstanceUid: string | null;
  /** Null when none recorded, or after the purge. */
  readonly candidates: readonly Candidate[] | null;
  readonly expectedInstances: number | null;
  readonly receivedInstances: number;
  readonly attempts: number;
  readonly nextAttemptAt: number | null;
  readonly lastCode: string | null;
  readonly lastError: string | null;
  readonly retrieve: RetrieveCounts | null;
  readonly xnatSession: string | null;
  readonly xnatUrl: string | null;
  readonly updatedAt: number;
  readonly finishedAt: number | null;
}

export interface ExpectedSeries {
  readonly seriesInstanceUid: string;
  readonly modality: string | null;
  readonly seriesNumber: string | null;
  /** Null when the PACS gave no count and none could be made. */
  readonly expected: number | null;
}

export interface SeriesRecord extends ExpectedSeries {
  readonly received: number;
  readonly delivered: number | null;
  readonly verified: number | null;
}

export interface PullEvent {
  readonly at: number;
  readonly kind: string;
  readonly detail: Readonly<Record<string, unknown>>;
}

/** Where a row goes after a retrieve attempt. */
export type RetrieveOutcome =
  | { readonly state: 'complete' }
  | { readonly state: 'partial' | 'failed'; readonly code: string; readonly reason: string }
  /** Another attempt later; `countAttempt` false when the PACS, not the study, failed (circuit breaker). */
  | {
      readonly state: 'queued';
      readonly code: string;
      readonly reason: string;
      readonly nextAttemptAt: number;
      readonly countAttempt: boolean;
    };

export interface PullLedger {
  /** Records a new pull with its rows (invalid and duplicate ones included) in one transaction. */
  createPull(p: {
    uid: string;
    pacs: string;
    project: string | null;
    fileName: string | null;
    notes: readonly string[];
    rows: readonly ListRow[];
    at: number;
  }): Promise<PullRecord>;
  getPull(id: number): Promise<PullRecord | null>;
  getPullByUid(uid: string): Promise<PullRecord | null>;
  /** Newest first. */
  pulls(): Promise<PullRecord[]>;
  rows(pullId: number): Promise<PullRow[]>;
  row(rowId: number): Promise<PullRow | null>;
  /** Rows of any pull in one of `states` (of one study when given), oldest first: delivery and verification follow them. */
  rowsIn(states: readonly RowState[], studyInstanceUid?: string): Promise<PullRow[]>;
  series(rowId: number): Promise<SeriesRecord[]>;
  events(rowId: number): Promise<PullEvent[]>;

  /** Rows of active pulls of `pacs` waiting in pending or queued whose attempt is due by `now`, oldest first; `exclude` are running. */
  due(pacs: string, now: number, limit: number, exclude: ReadonlySet<number>): Promise<PullRow[]>;
  /** The earliest due time of a waiting row of an active pull of `pacs` (not in `exclude`), or null when none waits. */
  nextDueAt(pacs: string, exclude: ReadonlySet<number>): Promise<number | null>;
  /** A step was interrupted by us (pause, cancel, shutdown): the row waits again, due now, no attempt counted. */
  requeue(rowId: number, at: number): Promise<void>;

  /**
   * The query step found exactly one study: its series and counts; the row is queued for retrieve
   * (attempts start again), or is a duplicate when an earlier row of the pull has that study.
   */
  resolved(
    rowId: number,
    r: { studyInstanceUid: string; series: readonly ExpectedSeries[]; at: number },
  ): Promise<'queued' | 'duplicate'>;
  notFound(rowId: number, r: { reason: string; at: number }): Promise<void>;
  ambiguous(rowId: number, r: { candidates: readonly Candidate[]; at: number }): Promise<void>;
  /** A query attempt failed: another attempt later (pending), or failed when none is left. */
  queryFailed(
    rowId: number,
    r: { code: string; reason: string; at: number } & (
      { nextAttemptAt: number; countAttempt: boolean } | { final: true }
    ),
  ): Promise<void>;

  startRetrieve(rowId: number, at: number): Promise<void>;
  /** Received counts per series (while waiting for arrivals). */
  recordReceived(rowId: number, received: ReadonlyMap<string, number>, at: number): Promise<void>;
  retrieved(
    rowId: number,
    r: { outcome: RetrieveOutcome; counts: RetrieveCounts | null; received: ReadonlyMap<string, number>; at: number },
  ): Promise<void>;

  setPullState(pullId: number, state: 'active' | 'paused', reason: string | null, at: number): Promise<void>;
  /** Cancels the pull: rows not yet ended become cancelled; the pull ends. */
  cancelPull(pullId: number, r: { at: number; retentionMs: number }): Promise<void>;
  /** A person picks one of an ambiguous row's candidates (or retries a failed/not-found row with `studyInstanceUid` null). */
  choose(rowId: number, studyInstanceUid: string | null, at: number): Promise<void>;
  /** Ends the pull when no row has anything left to happen (settled); returns true when it ended now. */
  endIfSettled(
    pullId: number,
    r: {
      at: number;
      retentionMs: number;
      /** False: no XNAT sink, so delivered rows are settled too. */ verifies?: boolean;
    },
  ): Promise<boolean>;
  /** Rows left `retrieving` by a previous process are queued again (no attempt counted); returns how many. */
  recover(at: number): Promise<number>;
  /** Erases patient data of pulls whose retention ended by `now`; returns how many pulls were purged. */
  purgeExpired(now: number): Promise<number>;

  /** Delivery and verification (phase 2: driven by the sinks): per series counts, then the row's state follows. */
  recordDelivery(
    rowId: number,
    r: { seriesInstanceUid: string; delivered: number; xnatSession?: string; xnatUrl?: string; at: number },
  ): Promise<void>;
  recordVerification(rowId: number, r: { seriesInstanceUid: string; verified: number; at: number }): Promise<void>;
  /**
   * A series of the row could not be delivered (its job is dead): the row ends `failed` with the
   * job's code and reason, so its pull ends and says why. Retrying the row (`choose(row, null)`)
   * once the job was requeued takes it up again.
   */
  deliveryFailed(rowId: number, r: { code: string; reason: string; at: number }): Promise<void>;
}

/**
 * What the gateway's own tables say about a pulled study (received, delivered, where in XNAT):
 * the pull source reads it, src/store/sqlite/pull-progress.ts implements it.
 */
/** Delivery of one original series (all its batches) as far as the gateway knows. */
export interface SeriesDelivery {
  /** Instances of batches delivered to every sink of their project. */
  readonly delivered: number;
  /** Instances XNAT was seen to hold after delivery (every XNAT job counted them); null when not countable yet. */
  readonly verified: number | null;
  /** The project the series was routed to, once routed. */
  readonly project: string | null;
  /** The session's URI in XNAT as the last XNAT delivery reported it. */
  readonly uri: string | null;
  /** A batch of the series whose delivery failed for good (a dead job): its code and reason; else null. */
  readonly failed: { readonly code: string; readonly reason: string } | null;
}

/** Labels and de-identified UIDs of a delivered series: what XNAT knows it by, and which sinks put it there. */
export interface DeliveredAs {
  /** Ids of the XNAT sinks whose delivery jobs of the series succeeded: the XNATs that hold it. */
  readonly sinks: readonly string[];
  readonly project: string;
  readonly subject: string;
  readonly session: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
}

export interface PullProgress {
  /** Distinct SOP instances received per SeriesInstanceUID of a study. */
  received(studyInstanceUid: string): Promise<Map<string, number>>;
  /** The original StudyInstanceUID of a spool series id, or null. */
  studyOf(seriesId: number): Promise<string | null>;
  delivery(studyInstanceUid: string, seriesInstanceUid: string): Promise<SeriesDelivery>;
  /** The XNAT project a pull list names for the study of spool series `seriesId` (its row's, else the pull's), or null. */
  projectFor(seriesId: number): Promise<string | null>;
  /**
   * The XNAT subject and session labels a pull list gives the study in `project` (its row's Subject
   * and Session columns, either may be null), or null when no row working on the study gives any.
   */
  listLabels(project: string, studyInstanceUid: string): Promise<GivenLabels | null>;
  /** How the series is filed in XNAT (pseudonym ledger, UID map), or null when not known. */
  deliveredAs(studyInstanceUid: string, seriesInstanceUid: string): Promise<DeliveredAs | null>;
}
