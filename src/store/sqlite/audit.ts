//! The one writer of audit rows (the `events` table): series completed, routed, released, discarded, job changes, de-identification.
// Instance-level rows (with instance and association ids) are written by the instance store.
import type { AuditLog } from '../audit.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';

export function auditLogSync(db: Db): Sync<AuditLog> {
  const insert = db.prepare('INSERT INTO events (at, kind, series_id, detail) VALUES (?, ?, ?, ?)');
  const latest = db.prepare<[number, string], { at: number; detail: string }>(
    'SELECT at, detail FROM events WHERE series_id = ? AND kind = ? ORDER BY id DESC LIMIT 1',
  );
  return {
    record(kind, seriesId, detail, at) {
      insert.run(at, kind, seriesId, JSON.stringify(detail));
    },
    latest: (kind, seriesId) => latest.get(seriesId, kind),
  };
}

/** The async AuditLog over SQLite: each call waits its turn on the connection (turns.ts). */
export function createAuditLog(db: Db): AuditLog {
  return serialised<AuditLog>(db, auditLogSync(db));
}
