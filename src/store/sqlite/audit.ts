//! The one writer of audit rows (the `events` table): series completed, routed, released, discarded, job changes, de-identification.
// Instance-level rows (with instance and association ids) go through `instanceAudit`, inside the
// instance store's own transactions.
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

/** An instance-level audit row (duplicate, replaced, not durable): written inside the caller's transaction. */
export interface InstanceAudit {
  run(
    at: number,
    kind: string,
    seriesId: number | null,
    instanceId: number | null,
    associationId: number | null,
    detail: string,
  ): void;
}

export function instanceAudit(db: Db): InstanceAudit {
  const insert = db.prepare(
    'INSERT INTO events (at, kind, series_id, instance_id, association_id, detail) VALUES (?, ?, ?, ?, ?, ?)',
  );
  return {
    run(at, kind, seriesId, instanceId, associationId, detail) {
      insert.run(at, kind, seriesId, instanceId, associationId, detail);
    },
  };
}

/** The async AuditLog over SQLite: each call waits its turn on the connection (turns.ts). */
export function createAuditLog(db: Db): AuditLog {
  return serialised<AuditLog>(db, auditLogSync(db));
}
