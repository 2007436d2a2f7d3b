//! The find index: keyed digests of PatientID and AccessionNumber per series batch (series_lookup).
// Rows are written with the instance row at ingest (store/sqlite/instances.ts), so a series is findable as
// soon as its first instance is acknowledged. Only digests are stored; src/find/digest.ts makes them.
import type { FindIndex } from '../find-index.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';

/** SQL that records a batch's digests; used inside the instance transaction. */
export const INSERT_LOOKUP = 'INSERT OR IGNORE INTO series_lookup (series_id, kind, digest) VALUES (?, ?, ?)';

export function findIndexSync(db: Db): Sync<FindIndex> {
  const q = db.prepare<[string, string, number], { series_id: number }>(
    `SELECT DISTINCT l.series_id FROM json_each(?) j JOIN series_lookup l ON l.kind = ? AND l.digest = unhex(j.value)
     ORDER BY l.series_id DESC LIMIT ?`,
  );
  return {
    match(kind, digests, limit) {
      if (digests.length === 0) {
        return [];
      }
      return q.all(JSON.stringify(digests.map((d) => d.toString('hex'))), kind, limit).map((r) => r.series_id);
    },
  };
}

/** The async FindIndex over SQLite: each call waits its turn on the connection (turns.ts). */
export function createFindIndex(db: Db): FindIndex {
  return serialised<FindIndex>(db, findIndexSync(db));
}
