//! Loads the read-only snapshot of one series batch that transforms and sinks work on.
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../errors.ts';
import type { Db } from '../store/sqlite/db.ts';
import type { SeriesSnapshot, SnapshotInstance } from '../contracts/series.ts';

interface Statements {
  series: ReturnType<Db['prepare']>;
  instances: ReturnType<Db['prepare']>;
}

// Prepared once per database handle; the WeakMap lets a closed handle be collected.
const prepared = new WeakMap<Db, Statements>();

function statements(db: Db): Statements {
  let s = prepared.get(db);
  if (!s) {
    s = {
      // The routing decision, when there is one, names the project and the session to join.
      series: db.prepare(`SELECT s.id AS seriesId, s.study_uid AS studyInstanceUid, s.series_uid AS seriesInstanceUid,
        s.batch, s.modality, r.project, r.session_study_uid AS sessionStudyUid
        FROM series s LEFT JOIN series_routes r ON r.series_id = s.id AND r.state = 'routed' WHERE s.id = ?`),
      // Instance number first (the order a viewer shows); SOP UID breaks ties and orders unnumbered ones.
      instances: db.prepare(`SELECT id AS instanceId, sop_instance_uid AS sopInstanceUid, sop_class_uid AS sopClassUid,
        transfer_syntax_uid AS transferSyntaxUid, instance_number AS instanceNumber, path, size
        FROM instances WHERE series_id = ? ORDER BY instance_number IS NULL, instance_number, sop_instance_uid`),
    };
    prepared.set(db, s);
  }
  return s;
}

/**
 * The snapshot of series batch `seriesId`: its instances ordered by InstanceNumber (unnumbered
 * last) then SOPInstanceUID, each with its absolute spool path `join(spoolDir, path)`.
 * Throws a non-retryable DaemonError when the series row does not exist.
 */
export function loadSnapshot(db: Db, seriesId: number, spoolDir: string): SeriesSnapshot {
  const s = statements(db);
  const row = s.series.get(seriesId) as
    | (Omit<SeriesSnapshot, 'instances' | 'project' | 'sessionStudyUid'> & {
        project: string | null;
        sessionStudyUid: string | null;
      })
    | undefined;
  if (!row) {
    throw new DaemonError(ErrorCode.JOB_UNEXPECTED, `Series ${String(seriesId)} does not exist.`, {
      stage: 'assembling',
      retryable: false,
    });
  }
  const { project, sessionStudyUid, ...series } = row;
  const rows = s.instances.all(seriesId) as SnapshotInstance[];
  const instances = rows.map((r) => Object.freeze({ ...r, path: join(spoolDir, r.path) }));
  return Object.freeze({
    ...series,
    instances: Object.freeze(instances),
    ...(project === null ? {} : { project }),
    ...(sessionStudyUid === null ? {} : { sessionStudyUid }),
  });
}

/** `loadSnapshot` bound to one database and spool directory: the worker's `loadSnapshot` dependency. */
export function createSnapshotLoader(db: Db, spoolDir: string): (seriesId: number) => SeriesSnapshot {
  return (seriesId) => loadSnapshot(db, seriesId, spoolDir);
}
