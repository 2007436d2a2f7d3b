//! The pull ledger's SQL, prepared once per database, and the async wrappers of its transactions.
import { call } from './turns.ts';
import type Database from 'better-sqlite3';
import { ACTIVE_STATES, SETTLED_STATES } from '../../contracts/pull-row-state.ts';
import type { PullDbRow, RowDbRow, SeriesDbRow } from './pull-records.ts';

const ACTIVE_LIST = [...ACTIVE_STATES].map((s) => `'${s}'`).join(', ');
const SETTLED_LIST = [...SETTLED_STATES].map((s) => `'${s}'`).join(', ');

export type PullStatements = ReturnType<typeof preparePullStatements>;

export function preparePullStatements(db: Database.Database) {
  return {
    insertPull: db.prepare(
      "INSERT INTO pulls (uid, pacs, project, file_name, state, notes, created_at, updated_at) VALUES (?, ?, ?, ?, 'active', ?, ?, ?) RETURNING id",
    ),
    insertRow:
      db.prepare(`INSERT INTO pull_rows (pull_id, line, state, accession_number, patient_id, study_date_from, study_date_to, project, subject_label,
      session_label, notes, reason, duplicate_of, updated_at, finished_at, next_attempt_at) VALUES (@pullId, @line, @state, @acc, @pid, @from, @to, @project, @subject, @session, @notes, @reason,
      @duplicateOf, @at, @finishedAt, @next) RETURNING id`),
    pull: db.prepare<[number], PullDbRow>('SELECT * FROM pulls WHERE id = ?'),
    pullByUid: db.prepare<[string], PullDbRow>('SELECT * FROM pulls WHERE uid = ?'),
    pulls: db.prepare<[], PullDbRow>('SELECT * FROM pulls ORDER BY id DESC'),
    counts: db.prepare<[number], { state: string; n: number }>(
      'SELECT state, COUNT(*) AS n FROM pull_rows WHERE pull_id = ? GROUP BY state',
    ),
    rows: db.prepare<[number], RowDbRow>('SELECT * FROM pull_rows WHERE pull_id = ? ORDER BY line'),
    row: db.prepare<[number], RowDbRow>('SELECT * FROM pull_rows WHERE id = ?'),
    inStates: db.prepare<[string], RowDbRow>(
      'SELECT * FROM pull_rows WHERE state IN (SELECT value FROM json_each(?)) ORDER BY id',
    ),
    ofStudy: db.prepare<[string, string], RowDbRow>(
      'SELECT * FROM pull_rows WHERE study_uid = ? AND state IN (SELECT value FROM json_each(?)) ORDER BY id',
    ),
    series: db.prepare<[number], SeriesDbRow>(
      'SELECT * FROM pull_series WHERE row_id = ? ORDER BY CAST(number AS INTEGER), series_uid',
    ),
    events: db.prepare<[number], { at: number; kind: string; detail: string }>(
      'SELECT at, kind, detail FROM pull_events WHERE row_id = ? ORDER BY id',
    ),
    event: db.prepare('INSERT INTO pull_events (row_id, at, kind, detail) VALUES (?, ?, ?, ?)'),
    due: db.prepare<[string, number, number], RowDbRow>(`SELECT r.* FROM pull_rows r JOIN pulls p ON p.id = r.pull_id
      WHERE p.pacs = ? AND p.state = 'active' AND r.state IN ('pending', 'queued') AND COALESCE(r.next_attempt_at, 0) <= ?
      ORDER BY COALESCE(r.next_attempt_at, 0), r.pull_id, r.line LIMIT ?`),
    nextDue: db.prepare<
      [string, string],
      { t: number | null }
    >(`SELECT MIN(COALESCE(r.next_attempt_at, 0)) AS t FROM pull_rows r JOIN pulls p ON p.id = r.pull_id
      WHERE p.pacs = ? AND p.state = 'active' AND r.state IN ('pending', 'queued') AND r.id NOT IN (SELECT value FROM json_each(?))`),
    setState: db.prepare(
      'UPDATE pull_rows SET state = @state, reason = @reason, last_code = @code, last_error = @error, next_attempt_at = @next, attempts = @attempts, updated_at = @at, finished_at = @finishedAt WHERE id = @id',
    ),
    sameStudy: db.prepare<[number, string, number], { line: number }>(
      `SELECT line FROM pull_rows WHERE pull_id = ? AND study_uid = ? AND id != ? AND state NOT IN ('duplicate', 'invalid', 'cancelled') ORDER BY line LIMIT 1`,
    ),
    resolve: db.prepare('UPDATE pull_rows SET study_uid = ?, expected_instances = ?, candidates = NULL WHERE id = ?'),
    deleteSeries: db.prepare('DELETE FROM pull_series WHERE row_id = ?'),
    insertSeries: db.prepare(
      'INSERT INTO pull_series (row_id, series_uid, modality, number, expected) VALUES (?, ?, ?, ?, ?)',
    ),
    candidates: db.prepare('UPDATE pull_rows SET candidates = ? WHERE id = ?'),
    duplicate: db.prepare('UPDATE pull_rows SET duplicate_of = ?, study_uid = ? WHERE id = ?'),
    upsertReceived: db.prepare(`INSERT INTO pull_series (row_id, series_uid, expected, received) VALUES (?, ?, 0, ?)
      ON CONFLICT (row_id, series_uid) DO UPDATE SET received = excluded.received`),
    rowReceived: db.prepare(
      'UPDATE pull_rows SET received_instances = (SELECT COALESCE(SUM(received), 0) FROM pull_series WHERE row_id = ?), updated_at = ? WHERE id = ?',
    ),
    retrieveCounts: db.prepare(
      'UPDATE pull_rows SET retrieve_status = ?, retrieve_completed = ?, retrieve_failed = ?, retrieve_warning = ? WHERE id = ?',
    ),
    pullState: db.prepare(
      "UPDATE pulls SET state = ?, pause_reason = ?, updated_at = ? WHERE id = ? AND state IN ('active', 'paused')",
    ),
    endPull: db.prepare('UPDATE pulls SET state = ?, ended_at = ?, purge_at = ?, updated_at = ? WHERE id = ?'),
    cancelRows: db.prepare(
      `UPDATE pull_rows SET state = 'cancelled', next_attempt_at = NULL, updated_at = ?, finished_at = ? WHERE pull_id = ? AND state IN (${ACTIVE_LIST}) RETURNING id`,
    ),
    unsettled: db.prepare<[number], { n: number }>(
      `SELECT COUNT(*) AS n FROM pull_rows WHERE pull_id = ? AND state NOT IN (${SETTLED_LIST})`,
    ),
    // Without an XNAT to verify in, delivered is as far as a row goes.
    unsettledUnverified: db.prepare<[number], { n: number }>(
      `SELECT COUNT(*) AS n FROM pull_rows WHERE pull_id = ? AND state NOT IN (${SETTLED_LIST}, 'delivered')`,
    ),
    choose: db.prepare('UPDATE pull_rows SET chosen_study_uid = ? WHERE id = ?'),
    reopen: db.prepare(
      "UPDATE pulls SET state = 'active', ended_at = NULL, purge_at = NULL, updated_at = ? WHERE id = ? AND state = 'ended' AND purged_at IS NULL",
    ),
    recover: db.prepare(
      `UPDATE pull_rows SET state = 'queued', next_attempt_at = NULL, updated_at = ? WHERE state = 'retrieving' RETURNING id`,
    ),
    purgeable: db.prepare<[number], { id: number }>(
      'SELECT id FROM pulls WHERE purge_at IS NOT NULL AND purge_at <= ? AND purged_at IS NULL',
    ),
    purgePull: db.prepare('UPDATE pulls SET file_name = NULL, purged_at = ?, updated_at = ? WHERE id = ?'),
    purgeRows: db.prepare(
      'UPDATE pull_rows SET accession_number = NULL, patient_id = NULL, study_date_from = NULL, study_date_to = NULL, candidates = NULL WHERE pull_id = ?',
    ),
    delivered: db.prepare('UPDATE pull_series SET delivered = ? WHERE row_id = ? AND series_uid = ?'),
    verified: db.prepare('UPDATE pull_series SET verified = ? WHERE row_id = ? AND series_uid = ?'),
    xnat: db.prepare(
      'UPDATE pull_rows SET xnat_session = COALESCE(?, xnat_session), xnat_url = COALESCE(?, xnat_url) WHERE id = ?',
    ),
  };
}

/** `fn` as one IMMEDIATE transaction behind a promise, in its turn on the connection (turns.ts). */
export function asyncTx(db: Database.Database) {
  return <A extends unknown[], R>(fn: (...a: A) => R) => {
    const t = db.transaction(fn);
    return (...a: A): Promise<R> => call(db, () => t.immediate(...a));
  };
}

/** A read behind a promise, in its turn on the connection. */
export const asyncRead =
  (db: Database.Database) =>
  <A extends unknown[], R>(fn: (...a: A) => R) =>
  (...a: A): Promise<R> =>
    call(db, () => fn(...a));

/** Appends to a row's history (no patient data in `detail`). */
export function recordEvent(
  s: PullStatements,
  rowId: number,
  at: number,
  kind: string,
  detail: Record<string, unknown> = {},
): void {
  s.event.run(rowId, at, kind, JSON.stringify(detail));
}
