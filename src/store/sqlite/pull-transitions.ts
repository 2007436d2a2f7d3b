//! The pull ledger's row transitions: each step of a row (query, retrieve, choice, delivery, verification) as one checked transaction.
// State moves are checked against contracts/pull-row-state.ts inside the transaction, so a move
// that raced another one fails loudly instead of overwriting it.
import type Database from 'better-sqlite3';
import type { PullLedger, PullRow, RetrieveCounts } from '../../contracts/pull-ledger.ts';
import { ACTIVE_STATES, RowStateError, assertMove, type RowState } from '../../contracts/pull-row-state.ts';
import { toRow } from './pull-records.ts';
import { asyncTx, recordEvent, type PullStatements } from './pull-statements.ts';

/** The ledger's methods that move a row. */
export type RowTransitions = Pick<
  PullLedger,
  | 'requeue'
  | 'resolved'
  | 'notFound'
  | 'ambiguous'
  | 'queryFailed'
  | 'startRetrieve'
  | 'recordReceived'
  | 'retrieved'
  | 'choose'
  | 'recordDelivery'
  | 'recordVerification'
  | 'deliveryFailed'
>;

export function createRowTransitions(db: Database.Database, s: PullStatements): RowTransitions {
  const tx = asyncTx(db);

  function mustRow(id: number): PullRow {
    const r = s.row.get(id);
    if (!r) {
      throw new Error(`Pull row ${String(id)} does not exist.`);
    }
    return toRow(r);
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
    requeue: tx((rowId, at) => {
      const row = mustRow(rowId);
      if (!ACTIVE_STATES.has(row.state)) {
        return;
      }
      move(row, row.state === 'retrieving' ? 'queued' : row.state, at, { next: at });
      recordEvent(s, rowId, at, 'interrupted');
    }),
    resolved: tx((rowId, r) => {
      const row = mustRow(rowId);
      // Two rows (different accession numbers, or an accession and a patient/date row) can name one
      // study: it is pulled once, for the first row; checked here, inside the transaction.
      const other = s.sameStudy.get(row.pullId, r.studyInstanceUid, rowId);
      if (other) {
        s.duplicate.run(other.line, r.studyInstanceUid, rowId);
        move(row, 'duplicate', r.at, { reason: `the same study as line ${String(other.line)}`, next: null });
        recordEvent(s, rowId, r.at, 'duplicate', { line: other.line });
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
      recordEvent(s, rowId, r.at, 'resolved', { series: r.series.length, expected });
      return 'queued' as const;
    }),
    notFound: tx((rowId, r) => {
      move(mustRow(rowId), 'not-found', r.at, { reason: r.reason, next: null });
      recordEvent(s, rowId, r.at, 'not-found');
    }),
    ambiguous: tx((rowId, r) => {
      const row = mustRow(rowId);
      s.candidates.run(JSON.stringify(r.candidates), rowId);
      move(row, 'ambiguous', r.at, { reason: `${String(r.candidates.length)} studies match; choose one`, next: null });
      recordEvent(s, rowId, r.at, 'ambiguous', { candidates: r.candidates.length });
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
      recordEvent(s, rowId, r.at, 'query-failed', { code: r.code, reason: r.reason, final: 'final' in r });
    }),
    startRetrieve: tx((rowId, at) => {
      move(mustRow(rowId), 'retrieving', at, { next: null });
      recordEvent(s, rowId, at, 'retrieve-started');
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
      recordEvent(s, rowId, r.at, 'retrieved', {
        outcome: o.state,
        ...(o.state === 'complete' ? {} : { code: o.code }),
        counts: c,
        received: [...r.received.values()].reduce((a, b) => a + b, 0),
      });
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
      recordEvent(s, rowId, at, 'chosen', { candidate: studyInstanceUid !== null });
    }),
    recordDelivery: tx((rowId, r) => {
      const row = mustRow(rowId);
      s.delivered.run(r.delivered, rowId, r.seriesInstanceUid);
      s.xnat.run(r.xnatSession ?? null, r.xnatUrl ?? null, rowId);
      const all = s.series.all(rowId);
      if (row.state === 'complete' && all.every((x) => (x.delivered ?? -1) >= x.received)) {
        move(row, 'delivered', r.at);
      }
      recordEvent(s, rowId, r.at, 'delivered', { delivered: r.delivered });
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
      recordEvent(s, rowId, r.at, 'verified', { verified: r.verified });
    }),
    deliveryFailed: tx((rowId, r) => {
      const row = mustRow(rowId);
      if (row.state !== 'complete' && row.state !== 'delivered') {
        return;
      }
      const reason = `delivery failed (${r.code}): ${r.reason}`;
      move(row, 'failed', r.at, { reason, code: r.code, error: r.reason, next: null, attempts: row.attempts });
      recordEvent(s, rowId, r.at, 'delivery-failed', { code: r.code });
    }),
  };
}
