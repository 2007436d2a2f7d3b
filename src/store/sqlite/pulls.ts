//! The pull ledger over the gateway's SQLite database (tables of migration 0010), behind the async PullLedger interface.
// Statements are prepared once (pull-statements.ts); each method is one IMMEDIATE transaction or
// one read. This module holds the pulls' own life (created, paused, cancelled, ended, purged) and
// the queries; a row's steps are pull-transitions.ts.
import type Database from 'better-sqlite3';
import type { PullEvent, PullLedger, PullRecord } from '../../contracts/pull-ledger.ts';
import { loadPull, parseJson, toRow, toSeries } from './pull-records.ts';
import { asyncRead, asyncTx, preparePullStatements, recordEvent } from './pull-statements.ts';
import { createRowTransitions } from './pull-transitions.ts';

export function createSqlitePullLedger(db: Database.Database): PullLedger {
  const s = preparePullStatements(db);
  const tx = asyncTx(db);
  const read = asyncRead(db);
  const counted = (pullId: number): { state: string; n: number }[] => s.counts.all(pullId);

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
        recordEvent(s, rowId, p.at, 'listed', { state: r.state, notes: r.notes });
      }
      const pull = loadPull(s.pull.get(id), counted);
      if (!pull) {
        throw new Error('The new pull vanished.');
      }
      return pull;
    }),
    getPull: read((id) => loadPull(s.pull.get(id), counted)),
    getPullByUid: read((uid) => loadPull(s.pullByUid.get(uid), counted)),
    pulls: read(() =>
      s.pulls
        .all()
        .map((r) => loadPull(r, counted))
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
    setPullState: tx((pullId, state, reason, at) => {
      s.pullState.run(state, reason, at, pullId);
    }),
    cancelPull: tx((pullId, r) => {
      const ids = s.cancelRows.all(r.at, r.at, pullId) as { id: number }[];
      for (const { id } of ids) {
        recordEvent(s, id, r.at, 'cancelled');
      }
      s.endPull.run('cancelled', r.at, r.at + r.retentionMs, r.at, pullId);
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
        recordEvent(s, id, at, 'recovered');
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
    ...createRowTransitions(db, s),
  };
}
