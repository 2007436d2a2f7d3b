//! Loads the read-only snapshot of one series batch that transforms and sinks work on.
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../errors.ts';
import type { Db } from '../store/sqlite/db.ts';
import type { SeriesSnapshot } from '../contracts/series.ts';
import { createSeriesStore } from '../store/sqlite/series.ts';
import type { SeriesStore } from '../store/series.ts';

// One series store per database handle; the WeakMap lets a closed handle be collected.
const stores = new WeakMap<Db, SeriesStore>();

function storeOf(db: Db): SeriesStore {
  let s = stores.get(db);
  if (!s) {
    s = createSeriesStore(db);
    stores.set(db, s);
  }
  return s;
}

/**
 * The snapshot of series batch `seriesId`: its instances ordered by InstanceNumber (unnumbered
 * last) then SOPInstanceUID, each with its absolute spool path `join(spoolDir, path)`.
 * Throws a non-retryable DaemonError when the series row does not exist.
 */
export async function loadSnapshot(db: Db, seriesId: number, spoolDir: string): Promise<SeriesSnapshot> {
  const { series: row, instances: rows } = await storeOf(db).snapshotRows(seriesId);
  if (!row) {
    throw new DaemonError(ErrorCode.JOB_UNEXPECTED, `Series ${String(seriesId)} does not exist.`, {
      stage: 'assembling',
      retryable: false,
    });
  }
  const { project, sessionStudyUid, ...series } = row;
  const instances = rows.map((r) => Object.freeze({ ...r, path: join(spoolDir, r.path) }));
  return Object.freeze({
    ...series,
    instances: Object.freeze(instances),
    ...(project === null ? {} : { project }),
    ...(sessionStudyUid === null ? {} : { sessionStudyUid }),
  });
}

/** `loadSnapshot` bound to one database and spool directory: the worker's `loadSnapshot` dependency. */
export function createSnapshotLoader(db: Db, spoolDir: string): (seriesId: number) => Promise<SeriesSnapshot> {
  return (seriesId) => loadSnapshot(db, seriesId, spoolDir);
}
