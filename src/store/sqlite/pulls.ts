//! The pull ledger over the gateway's SQLite database (tables of migration 0010), behind the async PullLedger interface.
// Statements are prepared once; each method is one IMMEDIATE transaction. State moves are checked
// against row-state.ts inside the transaction, so a move that raced another one fails loudly
// instead of overwriting it.
import type Database from 'better-sqlite3';
import type {
  Candidate,
  PullEvent,
  PullLedger,
  PullRecord,
  PullRow,
  RetrieveCounts,
  SeriesRecord,
} from '../../contracts/pull-ledger.ts';
import {
  ACTIVE_STATES,
  RowStateError,
  SETTLED_STATES,
  assertMove,
  isRowState,
  type RowState,
} from '../../contracts/pull-row-state.ts';

interface PullDbRow {
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

interface RowDbRow {
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

interface SeriesDbRow {
  series_uid: string;
  modality: string | null;
  number: string | null;
  expected: number | null;
  received: number;
  delivered: number | null;
  verified: number | null;
}

const parseJson = <T>(s: string | null, fallback: T): T => (s === null ? fallback : (JSON.parse(s) as T));

function toRow(r: RowDbRow): PullRow {
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

const toSeries = (s: SeriesDbRow): SeriesRecord => ({
  seriesInstanceUid: s.series_uid,
  modality: s.modality,
  seriesNumber: s.number,
  expected: s.expected,
  received: s.received,
  delivered: s.delivered,
  verified: s.verified,
});

const ACTIVE_LIST = [...ACTIVE_STATES].map((s) => `'${s}'`).join(', ');
const SETTLED_LIST = [...SETTLED_STATES].map((s) => `'${s}'`).join(', ');

export function createSqlitePullLedger(db: Database.Database): PullLedger {
  const s = {
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

  const tx = <A extends unknown[], R>(fn: (...a: A) => R) => {
    const t = db.transaction(fn);
    return (...a: A): Promise<R> => {
      try {
        return Promise.resolve(t.immediate(...a));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    };
  };
  const read =
    <A extends unknown[], R>(fn: (...a: A) => R) =>
    (...a: A): Promise<R> => {
      try {
        return Promise.resolve(fn(...a));
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
    };

  function loadPull(r: PullDbRow | undefined): PullRecord | null {
    if (!r) {
      return null;
    }
    const counts: Partial<Record<RowState, number>> = {};
    let total = 0;
    for (const c of s.counts.all(r.id)) {
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

  function mustRow(id: number): PullRow {
    const r = s.row.get(id);
    if (!r) {
      throw new Error(`Pull row ${String(id)} does not exist.`);
    }
    return toRow(r);
  }

  function event(rowId: number, at: number, kind: string, detail: Record<string, unknown> = {}): void {
    s.event.run(rowId, at, kind, JSON.stringify(detail));
  }

  /** Moves a row, checked; `patch` sets reason, codes, due time and attempts (kept when absent). */
  function move(
    row: PullRow,
    to: RowState,
    at: number,
    patch: {
      reason?: string | null;
      code?: string | null;
      error?: string | null;
      next?: number | null;
      attempts?: number;
    } = {},
  ): void {
    assertMove(row.state, to);
    const ended = !ACTIVE_STATES.has(to);
    s.setState.run({
      id: row.id,
      state: to,
      at,
      reason: patch.reason === undefined ? row.reason : patch.reason,
      code: patch.code === undefined ? row.lastCode : patch.code,
      error: patch.error === undefined ? row.lastError : patch.error,
      next: patch.next === undefined ? row.nextAttemptAt : patch.next,
      attempts: patch.attempts ?? row.attempts,
      finishedAt: ended ? at : null,
    });
  }

  function setReceived(rowId: number, received: ReadonlyMap<string, number>, at: number): void {
    for (const [uid, n] of received) {
      s.upsertReceived.run(rowId, uid, n);
    }
    s.rowReceived.run(rowId, at, rowId);
  }

  return {
    createPull: tx((p) => {
      const { id } = s.insertPull.get(p.uid, p.pacs, p.project, p.fileName, JSON.stringify(p.notes), p.at, p.at) as {
        id: number;
      };
      for (const r of p.rows) {
        const { id: rowId } = s.insertRow.get({
          pullId: id,
          line: r.line,
          state: r.state,
          acc: r.key.accessionNumber,
          pid: r.key.patientId,
          from: r.key.studyDateFrom,
          to: r.key.studyDateTo,
          project: r.labels.project,
          subject: r.labels.subject,
          session: r.labels.session,
          notes: JSON.stringify(r.notes),
          reason: r.reason,
          duplicateOf: r.duplicateOf,
          at: p.at,
          finishedAt: r.state === 'pending' ? null : p.at,
          next: r.state === 'pending' ? p.at : null,
        }) as { id: number };
        event(rowId, p.at, 'listed', { state: r.state, notes: r.notes });
      }
      const pull = loadPull(s.pull.get(id));
      if (!pull) {
        throw new Error('The new pull vanished.');
      }
      return pull;
    }),
    getPull: read((id) => loadPull(s.pull.get(id))),
    getPullByUid: read((uid) => loadPull(s.pullByUid.get(uid))),
    pulls: read(() =>
      s.pulls
        .all()
        .map((r) => loadPull(r))
        .filter((p): p is PullRecord => p !== null),
    ),
    rows: read((pullId) => s.rows.all(pullId).map(toRow)),
    row: read((rowId) => {
      const r = s.row.get(rowId);
      return r ? toRow(r) : null;
    }),
    rowsIn: read((states, studyInstanceUid) =>
      (studyInstanceUid === undefined
        ? s.inStates.all(JSON.stringify(states))
        : s.ofStudy.all(studyInstanceUid, JSON.stringify(states))
      ).map(toRow),
    ),
    series: read((rowId) => s.series.all(rowId).map(toSeries)),
    events: read((rowId): PullEvent[] =>
      s.events
        .all(rowId)
        .map((e) => ({ at: e.at, kind: e.kind, detail: parseJson<Record<string, unknown>>(e.detail, {}) })),
    ),
    due: read((pacs, now, limit, exclude) => {
      // A few extra rows cover those running now, which are skipped.
      return s.due
        .all(pacs, now, limit + exclude.size)
        .map(toRow)
        .filter((r) => !exclude.has(r.id))
        .slice(0, limit);
    }),
    nextDueAt: read((pacs, exclude) => s.nextDue.get(pacs, JSON.stringify([...exclude]))?.t ?? null),
    requeue: tx((rowId, at) => {
      const row = mustRow(rowId);
      if (!ACTIVE_STATES.has(row.state)) {
        return;
      }
      move(row, row.state === 'retrieving' ? 'queued' : row.state, at, { next: at });
      event(rowId, at, 'interrupted');
    }),

    resolved: tx((rowId, r) => {
      const row = mustRow(rowId);
      // Two rows (different accession numbers, or an accession and a patient/date row) can name one
      // study: it is pulled once, for the first row; checked here, inside the transaction.
      const other = s.sameStudy.get(row.pullId, r.studyInstanceUid, rowId);
      if (other) {
        s.duplicate.run(other.line, r.studyInstanceUid, rowId);
        move(row, 'duplicate', r.at, { reason: `the same study as line ${String(other.line)}`, next: null });
        event(rowId, r.at, 'duplicate', { line: other.line });
        return 'duplicate' as const;
      }
      const counted = r.series.every((x) => x.expected !== null);
      const expected = counted ? r.series.reduce((n, x) => n + (x.expected ?? 0), 0) : null;
      s.resolve.run(r.studyInstanceUid, expected, rowId);
      s.deleteSeries.run(rowId);
      for (const x of r.series) {
        s.insertSeries.run(rowId, x.seriesInstanceUid, x.modality, x.seriesNumber, x.expected);
      }
      move(row, 'queued', r.at, { reason: null, code: null, error: null, next: r.at, attempts: 0 });
      event(rowId, r.at, 'resolved', { series: r.series.length, expected });
      return 'queued' as const;
    }),
    notFound: tx((rowId, r) => {
      move(mustRow(rowId), 'not-found', r.at, { reason: r.reason, next: null });
      event(rowId, r.at, 'not-found');
    }),
    ambiguous: tx((rowId, r) => {
      const row = mustRow(rowId);
      s.candidates.run(JSON.stringify(r.candidates), rowId);
      move(row, 'ambiguous', r.at, { reason: `${String(r.candidates.length)} studies match; choose one`, next: null });
      event(rowId, r.at, 'ambiguous', { candidates: r.candidates.length });
    }),
    queryFailed: tx((rowId, r) => {
      const row = mustRow(rowId);
      if ('final' in r) {
        move(row, 'failed', r.at, {
          reason: r.reason,
          code: r.code,
          error: r.reason,
          next: null,
          attempts: row.attempts + 1,
        });
      } else {
        move(row, 'pending', r.at, {
          code: r.code,
          error: r.reason,
          next: r.nextAttemptAt,
          attempts: row.attempts + (r.countAttempt ? 1 : 0),
        });
      }
      event(rowId, r.at, 'query-failed', { code: r.code, reason: r.reason, final: 'final' in r });
    }),

    startRetrieve: tx((rowId, at) => {
      move(mustRow(rowId), 'retrieving', at, { next: null });
      event(rowId, at, 'retrieve-started');
    }),
    recordReceived: tx((rowId, received, at) => {
      setReceived(rowId, received, at);
    }),
    retrieved: tx((rowId, r) => {
      const row = mustRow(rowId);
      setReceived(rowId, r.received, r.at);
      const c: RetrieveCounts | null = r.counts;
      if (c) {
        s.retrieveCounts.run(c.status, c.completed, c.failed, c.warning, rowId);
      }
      const o = r.outcome;
      const attempts = row.attempts + (o.state === 'queued' && !o.countAttempt ? 0 : 1);
      switch (o.state) {
        case 'complete':
          move(row, 'complete', r.at, { reason: null, code: null, error: null, next: null, attempts });
          break;
        case 'partial':
        case 'failed':
          move(row, o.state, r.at, { reason: o.reason, code: o.code, error: o.reason, next: null, attempts });
          break;
        case 'queued':
          move(row, 'queued', r.at, { code: o.code, error: o.reason, next: o.nextAttemptAt, attempts });
          break;
      }
      event(rowId, r.at, 'retrieved', {
        outcome: o.state,
        ...(o.state === 'complete' ? {} : { code: o.code }),
        counts: c,
        received: [...r.received.values()].reduce((a, b) => a + b, 0),
      });
    }),

    setPullState: tx((pullId, state, reason, at) => {
      s.pullState.run(state, reason, at, pullId);
    }),
    cancelPull: tx((pullId, r) => {
      const ids = s.cancelRows.all(r.at, r.at, pullId) as { id: number }[];
      for (const { id } of ids) {
        event(id, r.at, 'cancelled');
      }
      s.endPull.run('cancelled', r.at, r.at + r.retentionMs, r.at, pullId);
    }),
    choose: tx((rowId, studyInstanceUid, at) => {
      const row = mustRow(rowId);
      if (studyInstanceUid !== null && !(row.candidates ?? []).some((c) => c.studyInstanceUid === studyInstanceUid)) {
        throw new Error(`Study ${studyInstanceUid} is not a candidate of line ${String(row.line)}.`);
      }
      const pull = s.pull.get(row.pullId);
      if (pull?.state === 'cancelled') {
        throw new RowStateError(`Pull ${pull.uid} was cancelled.`);
      }
      // A pull that ended with this row ambiguous (or failed) is worked again for it.
      if (pull?.state === 'ended') {
        s.reopen.run(at, row.pullId);
      }
      s.choose.run(studyInstanceUid, rowId);
      move(row, 'pending', at, { reason: null, code: null, error: null, next: at, attempts: 0 });
      event(rowId, at, 'chosen', { candidate: studyInstanceUid !== null });
    }),
    endIfSettled: tx((pullId, r) => {
      const pull = s.pull.get(pullId);
      if (!pull || pull.state === 'ended' || pull.state === 'cancelled') {
        return false;
      }
      if (((r.verifies === false ? s.unsettledUnverified : s.unsettled).get(pullId)?.n ?? 0) > 0) {
        return false;
      }
      s.endPull.run('ended', r.at, r.at + r.retentionMs, r.at, pullId);
      return true;
    }),
    recover: tx((at) => {
      const ids = s.recover.all(at) as { id: number }[];
      for (const { id } of ids) {
        event(id, at, 'recovered');
      }
      return ids.length;
    }),
    purgeExpired: tx((now) => {
      const ids = s.purgeable.all(now);
      for (const { id } of ids) {
        s.purgePull.run(now, now, id);
        s.purgeRows.run(id);
      }
      return ids.length;
    }),

    recordDelivery: tx((rowId, r) => {
      const row = mustRow(rowId);
      s.delivered.run(r.delivered, rowId, r.seriesInstanceUid);
      s.xnat.run(r.xnatSession ?? null, r.xnatUrl ?? null, rowId);
      const all = s.series.all(rowId);
      if (row.state === 'complete' && all.every((x) => (x.delivered ?? -1) >= x.received)) {
        move(row, 'delivered', r.at);
      }
      event(rowId, r.at, 'delivered', { delivered: r.delivered });
    }),
    recordVerification: tx((rowId, r) => {
      const row = mustRow(rowId);
      s.verified.run(r.verified, rowId, r.seriesInstanceUid);
      const all = s.series.all(rowId);
      const ok = all.every((x) => x.verified !== null && x.delivered !== null && x.verified >= x.delivered);
      if (row.state === 'delivered' && ok) {
        move(row, 'verified', r.at);
      } else if (row.state === 'verified' && !ok) {
        move(row, 'delivered', r.at, { reason: 'XNAT holds fewer instances than were delivered' });
      }
      event(rowId, r.at, 'verified', { verified: r.verified });
    }),
  };
}
