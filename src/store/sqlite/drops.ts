//! The folder source's durable ledger: drops and the files of each drop already handed off.
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';
import type { DropFileRecord, DropLedger, DropRecord } from '../../contracts/drops.ts';

interface DropRow {
  id: number;
  root: string;
  name: string;
  kind: 'folder' | 'file';
  state: DropRecord['state'];
  files_total: number;
  files_spooled: number;
  files_rejected: number;
  files_ignored: number;
  started_at: number;
  released_at: number | null;
  disposition: string | null;
  rejected_to: string | null;
  association_uid: string | null;
}

const toRecord = (r: DropRow): DropRecord => ({
  id: r.id,
  root: r.root,
  name: r.name,
  kind: r.kind,
  state: r.state,
  filesTotal: r.files_total,
  filesSpooled: r.files_spooled,
  filesRejected: r.files_rejected,
  filesIgnored: r.files_ignored,
  startedAt: r.started_at,
  releasedAt: r.released_at,
  disposition: r.disposition,
  rejectedTo: r.rejected_to,
  associationUid: r.association_uid,
});

export function dropLedgerSync(db: Db): Sync<DropLedger> {
  const active = db.prepare(
    `SELECT * FROM folder_drops WHERE root = ? AND name = ? AND state IN ('reading', 'releasing')`,
  );
  const insert = db.prepare(
    `INSERT INTO folder_drops (root, name, kind, state, started_at) VALUES (@root, @name, @kind, 'reading', @at) RETURNING *`,
  );
  const byId = db.prepare(`SELECT * FROM folder_drops WHERE id = ?`);
  const files = db.prepare(
    `SELECT rel_path, size, mtime_ms, outcome, instance_id, code, reason FROM folder_files WHERE drop_id = ?`,
  );
  // A re-read file (changed since its row was written) replaces its row.
  const upsert = db.prepare(
    `INSERT INTO folder_files (drop_id, rel_path, size, mtime_ms, outcome, instance_id, code, reason, at)
     VALUES (@dropId, @rel, @size, @mtimeMs, @outcome, @instanceId, @code, @reason, @at)
     ON CONFLICT (drop_id, rel_path) DO UPDATE SET size = excluded.size, mtime_ms = excluded.mtime_ms,
       outcome = excluded.outcome, instance_id = excluded.instance_id, code = excluded.code, reason = excluded.reason, at = excluded.at`,
  );
  const counters = db.prepare(
    `UPDATE folder_drops SET
       files_spooled  = (SELECT count(*) FROM folder_files WHERE drop_id = @id AND outcome IN ('stored', 'duplicate', 'replaced')),
       files_rejected = (SELECT count(*) FROM folder_files WHERE drop_id = @id AND outcome = 'rejected'),
       files_ignored  = (SELECT count(*) FROM folder_files WHERE drop_id = @id AND outcome = 'ignored')
     WHERE id = @id`,
  );
  const setTotal = db.prepare(`UPDATE folder_drops SET files_total = ? WHERE id = ?`);
  const releasing = db.prepare(
    `UPDATE folder_drops SET state = 'releasing', disposition = @disposition, rejected_to = @rejectedTo WHERE id = @id AND state = 'reading'`,
  );
  const released = db.prepare(`UPDATE folder_drops SET state = 'released', released_at = @at WHERE id = @id`);
  const unreleased = db.prepare(
    `SELECT * FROM folder_drops WHERE root = ? AND state IN ('reading', 'releasing') ORDER BY id`,
  );
  const openAssoc = db
    .prepare(
      `SELECT a.uid FROM folder_drops d JOIN associations a ON a.uid = d.association_uid WHERE d.id = ? AND a.closed_at IS NULL`,
    )
    .pluck();
  const setAssoc = db.prepare(`UPDATE folder_drops SET association_uid = ? WHERE id = ?`);
  const vanished = db.prepare(
    `UPDATE folder_drops SET state = 'vanished', released_at = ? WHERE id = ? AND state = 'reading'`,
  );
  const recent = db.prepare(`SELECT * FROM folder_drops ORDER BY id DESC LIMIT ?`);
  const latest = db.prepare(`SELECT * FROM folder_drops WHERE root = ? AND name = ? ORDER BY id DESC LIMIT 1`);

  const record = db.transaction((dropId: number, rows: readonly DropFileRecord[], at: number) => {
    for (const f of rows) {
      upsert.run({
        dropId,
        rel: f.rel,
        size: f.size,
        mtimeMs: Math.trunc(f.mtimeMs),
        outcome: f.outcome,
        instanceId: f.instanceId ?? null,
        code: f.code ?? null,
        reason: f.reason ?? null,
        at,
      });
    }
    counters.run({ id: dropId });
  });
  const begin = db.transaction((d: { root: string; name: string; kind: 'folder' | 'file'; at: number }) => {
    const existing = active.get(d.root, d.name) as DropRow | undefined;
    if (existing) {
      return { drop: toRecord(existing), resumed: true };
    }
    return { drop: toRecord(insert.get(d) as DropRow), resumed: false };
  });

  return {
    begin: (d) => begin.immediate(d),
    handled(dropId) {
      const out = new Map<string, DropFileRecord>();
      for (const r of files.all(dropId) as {
        rel_path: string;
        size: number;
        mtime_ms: number;
        outcome: DropFileRecord['outcome'];
        instance_id: number | null;
        code: string | null;
        reason: string | null;
      }[]) {
        out.set(r.rel_path, {
          rel: r.rel_path,
          size: r.size,
          mtimeMs: r.mtime_ms,
          outcome: r.outcome,
          instanceId: r.instance_id,
          code: r.code,
          reason: r.reason,
        });
      }
      return out;
    },
    record: (dropId, rows, at) => {
      record.immediate(dropId, rows, at);
    },
    setTotal: (dropId, n) => {
      setTotal.run(n, dropId);
    },
    markReleasing: (dropId, plan) => {
      releasing.run({ id: dropId, ...plan });
    },
    markReleased: (dropId, at) => {
      released.run({ id: dropId, at });
    },
    openAssociation: (dropId) => (openAssoc.get(dropId) as string | undefined) ?? null,
    setAssociation: (dropId, uid) => {
      setAssoc.run(uid, dropId);
    },
    unreleased: (root) => (unreleased.all(root) as DropRow[]).map(toRecord),
    markVanished: (dropId, at) => {
      vanished.run(at, dropId);
    },
    get(dropId) {
      const r = byId.get(dropId) as DropRow | undefined;
      return r ? toRecord(r) : undefined;
    },
    latest(root, name) {
      const r = latest.get(root, name) as DropRow | undefined;
      return r ? toRecord(r) : undefined;
    },
    recent: (limit) => (recent.all(limit) as DropRow[]).map(toRecord),
  };
}

/** The async DropLedger over SQLite: each call waits its turn on the connection (turns.ts). */
export function createDropLedger(db: Db): DropLedger {
  return serialised<DropLedger>(db, dropLedgerSync(db));
}
