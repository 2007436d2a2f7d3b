//! The pull ledger's table rows (migration 0010) and the records the PullLedger interface gives for them.
import type { Candidate, PullRecord, PullRow, SeriesRecord } from '../../contracts/pull-ledger.ts';
import { isRowState, type RowState } from '../../contracts/pull-row-state.ts';

export interface PullDbRow {
  id: number;
  uid: string;
  pacs: string;
  project: string | null;
  file_name: string | null;
  state: string;
  pause_reason: string | null;
  notes: string;
  created_at: number;
  updated_at: number;
  ended_at: number | null;
  purge_at: number | null;
  purged_at: number | null;
}

export interface RowDbRow {
  id: number;
  pull_id: number;
  line: number;
  state: string;
  accession_number: string | null;
  patient_id: string | null;
  study_date_from: string | null;
  study_date_to: string | null;
  project: string | null;
  subject_label: string | null;
  session_label: string | null;
  notes: string;
  reason: string | null;
  duplicate_of: number | null;
  chosen_study_uid: string | null;
  study_uid: string | null;
  candidates: string | null;
  expected_instances: number | null;
  received_instances: number;
  attempts: number;
  next_attempt_at: number | null;
  last_code: string | null;
  last_error: string | null;
  retrieve_status: number | null;
  retrieve_completed: number | null;
  retrieve_failed: number | null;
  retrieve_warning: number | null;
  xnat_session: string | null;
  xnat_url: string | null;
  updated_at: number;
  finished_at: number | null;
}

export interface SeriesDbRow {
  series_uid: string;
  modality: string | null;
  number: string | null;
  expected: number | null;
  received: number;
  delivered: number | null;
  verified: number | null;
}

export const parseJson = <T>(s: string | null, fallback: T): T => (s === null ? fallback : (JSON.parse(s) as T));

export function toRow(r: RowDbRow): PullRow {
  if (!isRowState(r.state)) {
    throw new Error(`Unknown pull row state ${r.state}.`);
  }
  const hasRetrieve = r.retrieve_status !== null || r.retrieve_completed !== null;
  return {
    id: r.id,
    pullId: r.pull_id,
    line: r.line,
    state: r.state,
    key: {
      accessionNumber: r.accession_number,
      patientId: r.patient_id,
      studyDateFrom: r.study_date_from,
      studyDateTo: r.study_date_to,
    },
    labels: { project: r.project, subject: r.subject_label, session: r.session_label },
    notes: parseJson<string[]>(r.notes, []),
    reason: r.reason,
    duplicateOf: r.duplicate_of,
    chosenStudyUid: r.chosen_study_uid,
    studyInstanceUid: r.study_uid,
    candidates: parseJson<Candidate[] | null>(r.candidates, null),
    expectedInstances: r.expected_instances,
    receivedInstances: r.received_instances,
    attempts: r.attempts,
    nextAttemptAt: r.next_attempt_at,
    lastCode: r.last_code,
    lastError: r.last_error,
    retrieve: hasRetrieve
      ? {
          status: r.retrieve_status,
          completed: r.retrieve_completed,
          failed: r.retrieve_failed,
          warning: r.retrieve_warning,
        }
      : null,
    xnatSession: r.xnat_session,
    xnatUrl: r.xnat_url,
    updatedAt: r.updated_at,
    finishedAt: r.finished_at,
  };
}

export const toSeries = (s: SeriesDbRow): SeriesRecord => ({
  seriesInstanceUid: s.series_uid,
  modality: s.modality,
  seriesNumber: s.number,
  expected: s.expected,
  received: s.received,
  delivered: s.delivered,
  verified: s.verified,
});

/** A pull with its row counts by state; null for no row. */
export function loadPull(
  r: PullDbRow | undefined,
  counted: (pullId: number) => readonly { state: string; n: number }[],
): PullRecord | null {
  if (!r) {
    return null;
  }
  const counts: Partial<Record<RowState, number>> = {};
  let total = 0;
  for (const c of counted(r.id)) {
    if (isRowState(c.state)) {
      counts[c.state] = c.n;
    }
    total += c.n;
  }
  return {
    id: r.id,
    uid: r.uid,
    pacs: r.pacs,
    project: r.project,
    fileName: r.file_name,
    state: r.state as PullRecord['state'],
    pauseReason: r.pause_reason,
    notes: parseJson<string[]>(r.notes, []),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    endedAt: r.ended_at,
    purgeAt: r.purge_at,
    purgedAt: r.purged_at,
    rowsTotal: total,
    counts,
  };
}
