import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { listMigrations } from '../../../../src/store/sqlite/migrate.ts';

describe('openDb', () => {
  let dir: string;
  let file: string;
  const handles: Db[] = [];
  const open = (): Db => {
    const db = openDb(file);
    handles.push(db);
    return db;
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-db-'));
    file = join(dir, 'state', 'gateway.db');
  });
  afterEach(() => {
    for (const h of handles.splice(0)) {
      if (h.open) {
        h.close();
      }
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('sets WAL, synchronous=FULL, foreign keys and a busy timeout', () => {
    const db = open();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2); // FULL
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    expect(db.pragma('busy_timeout', { simple: true })).toBeGreaterThanOrEqual(1000);
  });

  it('sets the same pragmas when reopening an existing file', () => {
    open().close();
    const db = open();
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('synchronous', { simple: true })).toBe(2);
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
  });

  it('creates the database and its WAL files readable by the owner only', () => {
    open();
    expect(statSync(file).mode & 0o777).toBe(0o600);
    for (const suffix of ['-wal', '-shm']) {
      if (existsSync(file + suffix)) {
        expect(statSync(file + suffix).mode & 0o077, suffix).toBe(0);
      }
    }
  });

  it('creates a missing parent directory closed to others', () => {
    open();
    expect(statSync(join(dir, 'state')).mode & 0o077).toBe(0);
  });

  it('applies every migration on a fresh file and none on reopening', () => {
    const latest = Math.max(...listMigrations().map((m) => m.version));
    open().close();
    const db = open();
    expect(db.pragma('user_version', { simple: true })).toBe(latest);
  });

  it('enforces foreign keys', () => {
    const db = open();
    expect(() =>
      db.prepare(`INSERT INTO series_associations (series_id, association_id) VALUES (999, 999)`).run(),
    ).toThrow(/FOREIGN KEY/);
  });

  it('keeps committed rows across a reopen', () => {
    const db = open();
    db.prepare(`INSERT INTO events (at, kind, detail) VALUES (1, 'test', '{}')`).run();
    db.close();
    expect(open().prepare(`SELECT count(*) FROM events WHERE kind = 'test'`).pluck().get()).toBe(1);
  });
});
