//! Applies the numbered migrations in src/store/sqlite/migrations under PRAGMA user_version.
import { readdirSync, readFileSync } from 'node:fs';
import type Database from 'better-sqlite3';

const dir = new URL('./migrations/', import.meta.url);

/** The migrations shipped with this build, ordered by their NNNN prefix. */
export function listMigrations(): { version: number; name: string; sql: string }[] {
  return readdirSync(dir)
    .filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f))
    .sort()
    .map((f) => ({ version: Number(f.slice(0, 4)), name: f, sql: readFileSync(new URL(f, dir), 'utf8') }));
}

/** Applies every migration newer than the database's user_version, each in its own transaction. */
export function migrate(db: Database.Database): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  let applied = 0;
  for (const m of listMigrations()) {
    if (m.version <= current) {
      continue;
    }
    db.transaction(() => {
      db.exec(m.sql);
      db.pragma(`user_version = ${String(m.version)}`);
    }).immediate();
    applied++;
  }
  return applied;
}
