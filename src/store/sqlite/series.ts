//! The series store: batches the assembler completes, associations a restart finds open, and the rows a snapshot is read from.
import type { SnapshotSeriesRow, SnapshotInstanceRow, SeriesStore } from '../series.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import { auditLogSync } from './audit.ts';
import type { Db } from './db.ts';

// An open association that sent to the batch may still send more of it: it holds the batch open.
const NO_OPEN_ASSOCIATION = `NOT EXISTS (SELECT 1 FROM series_associations sa JOIN associations a ON a.id = sa.association_id
  WHERE sa.series_id = s.id AND a.closed_at IS NULL)`;
// A row whose spool file's fsync has not completed (ADR 0013) holds its batch open too: nothing
// that might not survive a power loss is routed or delivered.
const NO_FILE_IN_FLIGHT = `NOT EXISTS (SELECT 1 FROM instances i WHERE i.series_id = s.id AND i.durable = 0)`;

export function seriesStoreSync(db: Db): Sync<SeriesStore> {
  const audit = auditLogSync(db);
  const q = {
    due: db.prepare<[number], { id: number; batch: number }>(`SELECT id, batch FROM series s WHERE state = 'receiving'
      AND last_instance_at <= ? AND ${NO_OPEN_ASSOCIATION} AND ${NO_FILE_IN_FLIGHT} ORDER BY last_instance_at, id`),
    named: db.prepare<[string, string], { id: number; batch: number; seriesInstanceUid: string }>(`SELECT id, batch,
      series_uid AS seriesInstanceUid FROM series s WHERE state = 'receiving' AND study_uid = ? AND series_uid = ?
      AND ${NO_OPEN_ASSOCIATION} AND ${NO_FILE_IN_FLIGHT}`),
    complete: db.prepare(`UPDATE series SET state = 'complete', completed_at = ? WHERE id = ? AND state = 'receiving'`),
    oldestQuiet: db.prepare<[], { at: number | null }>(
      `SELECT min(last_instance_at) AS at FROM series s WHERE state = 'receiving' AND ${NO_OPEN_ASSOCIATION} AND ${NO_FILE_IN_FLIGHT}`,
    ),
    // Only this node's (or unattributed, older) associations: another node's are still open.
    closeOpen: db.prepare(`UPDATE associations SET closed_at = ?, outcome = 'interrupted' WHERE closed_at IS NULL
      AND (node IS NULL OR node = ?) AND uid NOT IN (SELECT association_uid FROM folder_drops WHERE state IN ('reading', 'releasing') AND association_uid IS NOT NULL)`),
    get: db.prepare<[number], { state: string; files: number; bytes: number }>(
      'SELECT state, instance_count AS files, byte_count AS bytes FROM series WHERE id = ?',
    ),
    // The routing decision, when there is one, names the project and the session to join.
    series: db.prepare<[number], SnapshotSeriesRow>(`SELECT s.id AS seriesId, s.study_uid AS studyInstanceUid,
      s.series_uid AS seriesInstanceUid, s.batch, s.modality, r.project, r.session_study_uid AS sessionStudyUid
      FROM series s LEFT JOIN series_routes r ON r.series_id = s.id AND r.state = 'routed' WHERE s.id = ?`),
    // Instance number first (the order a viewer shows); SOP UID breaks ties and orders unnumbered ones.
    instances: db.prepare<[number], SnapshotInstanceRow>(`SELECT id AS instanceId, sop_instance_uid AS sopInstanceUid,
      sop_class_uid AS sopClassUid, transfer_syntax_uid AS transferSyntaxUid, instance_number AS instanceNumber, path, size
      FROM instances WHERE series_id = ? ORDER BY instance_number IS NULL, instance_number, sop_instance_uid`),
  };
  // Selected and completed in one IMMEDIATE transaction, so the conditions hold when they change state.
  function completeRows<R extends { id: number; batch: number }>(
    select: () => readonly R[],
    now: number,
    extra: object,
  ): R[] {
    return db
      .transaction(() => {
        const done: R[] = [];
        for (const r of select()) {
          if (q.complete.run(now, r.id).changes !== 1) {
            continue;
          }
          // No jobs yet: the router decides the project first (a complete batch with no route row
          // is exactly its to-do list, so nothing is lost across a crash here).
          audit.record('series.completed', r.id, { batch: r.batch, ...extra }, now);
          done.push(r);
        }
        return done;
      })
      .immediate();
  }
  return {
    completeDue(quietBefore, now) {
      return completeRows(() => q.due.all(quietBefore), now, {});
    },
    completeNamed(study, seriesUids, now) {
      return completeRows(() => seriesUids.flatMap((uid) => q.named.all(study, uid)), now, { early: true });
    },
    get: (seriesId) => q.get.get(seriesId),
    oldestQuiet: () => q.oldestQuiet.get()?.at ?? null,
    closeInterrupted: (now, node) => db.transaction(() => q.closeOpen.run(now, node).changes).immediate(),
    snapshotRows: (seriesId) => ({ series: q.series.get(seriesId), instances: q.instances.all(seriesId) }),
  };
}

/** The async SeriesStore over SQLite: each call waits its turn on the connection (turns.ts). */
export function createSeriesStore(db: Db): SeriesStore {
  return serialised<SeriesStore>(db, seriesStoreSync(db));
}
