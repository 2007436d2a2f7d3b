//! The pseudonym ledger the anonymise transform keeps per project: patient → subject, study → session, UIDs.

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

/** A study's session in the ledger, and whom it was assigned for. */
export interface SessionAssignment {
  readonly label: string;
  /** The subject label the session was assigned under. */
  readonly subject: string;
  /** The patient it was assigned for; null for sessions recorded before the ledger kept it (compare `subject`). */
  readonly patient: { readonly issuer: string; readonly patientId: string } | null;
}

/**
 * The anonymise transform's persistent identity ledger, per target project: original patient →
 * subject label, original study → session label, and every UID the keyed UID function produced
 * (so references can be checked against what this project already sent). Implemented over SQLite;
 * the database file is owner-only because it maps pseudonyms back to patients.
 */
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
  }): Promise<string | null>;
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
  }): Promise<SessionAssignment>;
  /** The session `studyUid` already has in `project`, or null (a read: nothing is assigned). */
  studySession(project: string, studyUid: string): Promise<SessionAssignment | null>;
  /** Records original → replacement UID pairs (idempotent; one transaction). */
  recordUids(project: string, pairs: ReadonlyMap<string, string>, at: number): Promise<void>;
  /** Which of `uids` this project's UID function has produced before (replacement values). */
  knownReplacements(project: string, uids: readonly string[]): Promise<Set<string>>;
  /** Imports a lookup table (original PatientID [+ issuer] → subject label); returns rows added or changed. */
  importLookup(
    project: string,
    rows: readonly { issuer: string; patientId: string; subject: string }[],
    at: number,
  ): Promise<number>;
  /** Every subject and session mapping, optionally of one project, oldest first. */
  rows(project?: string): Promise<PseudonymRow[]>;
}
