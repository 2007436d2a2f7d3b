//! Opens the single SQLite database with the durability pragmas the acknowledgement rule needs.
import Database from 'better-sqlite3';
import { chmodSync, existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { migrate } from './migrate.ts';

export type Db = Database.Database;

/**
 * Opens (creating if needed) the database at `file` and applies pending migrations.
 * WAL + synchronous=FULL: a committed row survives power loss, so a C-STORE Success sent after
 * commit is truthful (docs/adr/0001-synchronous-full.md). The file is created owner-only (0600).
 */
export function openDb(file: string): Db {
  mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  const fresh = !existsSync(file);
  const db = new Database(file);
  try {
    if (fresh) {
      chmodSync(file, 0o600);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = FULL');
    db.pragma('foreign_keys = ON');
    db.pragma('busy_timeout = 5000');
    migrate(db);
  } catch (err) {
    // A full disk at start-up fails here (SQLITE_IOERR_SHMSIZE, SQLITE_FULL); the caller waits and
    // opens it again, so this handle must not stay open.
    db.close();
    throw err;
  }
  for (const suffix of ['-wal', '-shm']) {
    if (existsSync(file + suffix)) {
      chmodSync(file + suffix, 0o600);
    }
  }
  return db;
}

/** Whether the database answers and takes writes: the /readyz check (a cheap read, no write). */
export function isWritable(db: Db): boolean {
  try {
    db.prepare('SELECT 1').get();
    return !db.readonly;
  } catch {
    return false;
  }
}
