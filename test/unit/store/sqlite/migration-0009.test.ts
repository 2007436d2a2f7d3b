// Migration 0009 rebuilds associations and instances without the source CHECK: rows, ids,
// references from other tables and indexes survive, and a 'stow' row is accepted afterwards.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { listMigrations } from '../../../../src/store/sqlite/migrate.ts';

/** Applies migrations up to and including `upTo`, the way migrate() does (foreign keys on, one transaction each). */
function migrateTo(db: Database.Database, upTo: number): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const m of listMigrations()) {
    if (m.version <= current) {
      continue;
    }
    if (m.version > upTo) {
      break;
    }
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${String(m.version)}`);
    }).immediate();
  }
}

function fillAt8(db: Database.Database): void {
  db.exec(`
    INSERT INTO associations (id, uid, source, calling_ae, called_ae, peer_ip, opened_at, closed_at, outcome, instances, bytes)
      VALUES (7, 'a-7', 'dimse', 'CT1', 'XNAT', '10.0.0.1', 1000, 2000, 'released', 2, 300),
             (9, 'a-9', 'folder', '', '', '', 1500, NULL, NULL, 0, 0);
    INSERT INTO series (id, study_uid, series_uid, first_instance_at, last_instance_at) VALUES (3, '1.2.3', '1.2.3.4', 1000, 1100);
    INSERT INTO series_associations (series_id, association_id) VALUES (3, 7);
    INSERT INTO instances (id, series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, instance_number, path, size,
                           dataset_sha256, source, association_id, calling_ae, called_ae, peer_ip, origin, received_at)
      VALUES (11, 3, '1.2.3.4.5', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', 1, 'a/b', 100, 'x', 'dimse', 7, 'CT1', 'XNAT', '10.0.0.1', NULL, 1000),
             (12, 3, '1.2.3.4.6', '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', 2, 'a/c', 200, 'y', 'folder', 9, '', '', '', 'drop/x.dcm', 1100);
    INSERT INTO events (at, kind, series_id, instance_id, association_id, detail) VALUES (1000, 'instance.stored', 3, 11, 7, '{}');
    INSERT INTO folder_drops (id, root, name, kind, state, started_at) VALUES (1, '/in', 'drop', 'folder', 'reading', 1000);
    INSERT INTO folder_files (drop_id, rel_path, size, mtime_ms, outcome, instance_id, at) VALUES (1, 'x.dcm', 200, 1, 'stored', 12, 1100);
  `);
}

describe('migration 0009 (source CHECK removed)', () => {
  let dir: string;
  let db: Database.Database;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-stow-0009-'));
    db = new Database(join(dir, 'g.db'));
    db.pragma('foreign_keys = ON');
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('keeps every row, id and reference and accepts a stow row afterwards', () => {
    migrateTo(db, 8);
    fillAt8(db);
    const before = {
      a: db.prepare('SELECT * FROM associations ORDER BY id').all(),
      i: db.prepare('SELECT * FROM instances ORDER BY id').all(),
    };
    expect(() =>
      db
        .prepare(
          `INSERT INTO associations (uid, source, calling_ae, called_ae, peer_ip, opened_at) VALUES ('s', 'stow', 'pacs', '', '::1', 1)`,
        )
        .run(),
    ).toThrow(/CHECK/);
    migrateTo(db, 9);
    expect(db.pragma('user_version', { simple: true })).toBe(9);
    expect(db.prepare('SELECT * FROM associations ORDER BY id').all()).toEqual(before.a);
    expect(db.prepare('SELECT * FROM instances ORDER BY id').all()).toEqual(before.i);
    expect(db.pragma('foreign_key_check')).toEqual([]);
    // The references still point at the rebuilt tables: a dangling one is refused.
    expect(() =>
      db.prepare(`INSERT INTO series_associations (series_id, association_id) VALUES (3, 99)`).run(),
    ).toThrow(/FOREIGN KEY/);
    expect(() => db.prepare(`DELETE FROM instances WHERE id = 12`).run()).toThrow(/FOREIGN KEY/);
    const id = db
      .prepare(
        `INSERT INTO associations (uid, source, calling_ae, called_ae, peer_ip, opened_at) VALUES ('s', 'stow', 'pacs', '', '::1', 1) RETURNING id`,
      )
      .pluck()
      .get();
    db.prepare(
      `INSERT INTO instances (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, path, size, dataset_sha256, source, association_id, calling_ae, called_ae, peer_ip, received_at)
      VALUES (3, '1.2.3.4.7', '1.2', '1.2.840.10008.1.2.1', 'a/d', 1, 'z', 'stow', ?, 'pacs', '', '::1', 2)`,
    ).run(id);
    const indexes = db
      .prepare(
        `SELECT name FROM sqlite_schema WHERE type = 'index' AND tbl_name IN ('associations', 'instances', 'events', 'folder_files') AND sql IS NOT NULL ORDER BY name`,
      )
      .pluck()
      .all();
    expect(indexes).toEqual(['associations_open', 'events_series', 'instances_sop']);
    expect(db.prepare(`SELECT count(*) FROM sqlite_temp_schema`).pluck().get()).toBe(0);
  });
});
