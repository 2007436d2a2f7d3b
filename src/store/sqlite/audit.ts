//! Appends audit rows to the `events` table for things no store records itself (de-identification).
import type { Db } from './db.ts';

export interface AuditLog {
  /** `detail` holds ids, counts and codes only, never patient identifiers. */
  record(
    kind: string,
    seriesId: number | null,
    detail: Readonly<Record<string, string | number | boolean | null>>,
    at: number,
  ): void;
}

export function createAuditLog(db: Db): AuditLog {
  const insert = db.prepare('INSERT INTO events (at, kind, series_id, detail) VALUES (?, ?, ?, ?)');
  return {
    record(kind, seriesId, detail, at) {
      insert.run(at, kind, seriesId, JSON.stringify(detail));
    },
  };
}
