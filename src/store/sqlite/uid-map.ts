//! The pseudonym ledger's UID map read as a stream, oldest first, for `pseudonyms export --uids`.
// A synchronous iterator over one statement: only the offline CLI uses it, with the connection to itself.
import type { Db } from './db.ts';

/** One original → replacement UID pair of the UID map. */
export interface UidMapRow {
  readonly project: string;
  readonly original: string;
  readonly replacement: string;
  readonly createdAt: number;
}

/** Streams the UID map (of one project, or all), oldest first: for `pseudonyms export --uids`. */
export function iterateUidMap(db: Db, project?: string): IterableIterator<UidMapRow> {
  return db
    .prepare(
      `SELECT project, original, replacement, created_at AS createdAt FROM uid_map
       WHERE @project IS NULL OR project = @project ORDER BY project, created_at, original`,
    )
    .iterate({ project: project ?? null }) as IterableIterator<UidMapRow>;
}
