//! Test fixtures for the queue: a fresh database file per test and direct-SQL rows for it.
// Production ingest (src/store/sqlite/instances.ts) writes these rows; unit tests of the assembler,
// job store and worker insert them directly so they do not depend on it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../src/store/sqlite/db.ts';

export interface TmpDb {
  readonly db: Db;
  readonly dir: string;
  readonly file: string;
  /** Opens a second handle on the same file (a restart). */
  reopen(): Db;
  cleanup(): void;
}

/** A new SQLite file in its own temp directory, migrated. */
export function createTmpDb(): TmpDb {
  const dir = mkdtempSync(join(tmpdir(), 'xg-test-'));
  const file = join(dir, 'db', 'gateway.sqlite');
  const db = openDb(file);
  const handles: Db[] = [db];
  return {
    db,
    dir,
    file,
    reopen() {
      const h = openDb(file);
      handles.push(h);
      return h;
    },
    cleanup() {
      for (const h of handles) {
        if (h.open) {
          h.close();
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let uidSeq = 0;

/** Inserts an association; open unless `closedAt` is given. Returns its id. */
export function insertAssociation(db: Db, o: { openedAt: number; closedAt?: number }): number {
  const r = db
    .prepare(
      `INSERT INTO associations (uid, source, calling_ae, called_ae, peer_ip, opened_at, closed_at, outcome)
      VALUES (?, 'dimse', 'MODALITY', 'XNAT', '127.0.0.1', ?, ?, ?)`,
    )
    .run(`assoc-${String(++uidSeq)}`, o.openedAt, o.closedAt ?? null, o.closedAt === undefined ? null : 'released');
  return Number(r.lastInsertRowid);
}

/** Inserts a series batch (default state 'receiving'), optionally linked to associations. Returns its id. */
export function insertSeries(
  db: Db,
  o: {
    lastInstanceAt: number;
    state?: string;
    batch?: number;
    studyUid?: string;
    seriesUid?: string;
    associations?: number[];
  },
): number {
  const n = ++uidSeq;
  const r = db
    .prepare(
      `INSERT INTO series (study_uid, series_uid, batch, state, modality, first_instance_at, last_instance_at)
      VALUES (?, ?, ?, ?, 'CT', ?, ?)`,
    )
    .run(
      o.studyUid ?? `1.2.3.${String(n)}`,
      o.seriesUid ?? `1.2.3.${String(n)}.1`,
      o.batch ?? 1,
      o.state ?? 'receiving',
      o.lastInstanceAt,
      o.lastInstanceAt,
    );
  const id = Number(r.lastInsertRowid);
  for (const a of o.associations ?? []) {
    db.prepare('INSERT INTO series_associations (series_id, association_id) VALUES (?, ?)').run(id, a);
  }
  return id;
}

/** Inserts an instance row of `seriesId`; `path` is relative to the spool. Returns its id. */
export function insertInstance(
  db: Db,
  seriesId: number,
  o: { sopInstanceUid: string; path: string; size?: number; instanceNumber?: number | null; receivedAt?: number },
): number {
  const r = db
    .prepare(
      `INSERT INTO instances (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number,
      path, size, dataset_sha256, source, calling_ae, called_ae, peer_ip, received_at)
      VALUES (?, ?, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', ?, ?, ?, 'sha', 'dimse', 'MODALITY', 'XNAT', '127.0.0.1', ?)`,
    )
    .run(seriesId, o.sopInstanceUid, o.instanceNumber ?? null, o.path, o.size ?? 0, o.receivedAt ?? 0);
  return Number(r.lastInsertRowid);
}

/** The state column of a series. */
export function seriesState(db: Db, seriesId: number): string {
  return (db.prepare('SELECT state FROM series WHERE id = ?').get(seriesId) as { state: string }).state;
}

/** The value, or a thrown test failure when it is null or undefined (instead of a `!` assertion). */
export function must<T>(v: T | null | undefined): T {
  if (v === null || v === undefined) {
    throw new Error('Expected a value.');
  }
  return v;
}
