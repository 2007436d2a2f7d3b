//! Where things live under the data directory.
import { join } from 'node:path';

export interface Layout {
  readonly dataDir: string;
  readonly spoolDir: string;
  readonly dbFile: string;
  readonly workDir: string;
}

export function layoutFor(dataDir: string): Layout {
  const spoolDir = join(dataDir, 'spool');
  return { dataDir, spoolDir, dbFile: join(dataDir, 'gateway.db'), workDir: join(dataDir, 'work') };
}

/** A UID safe to use in a file name: digits and dots only, at most 64 characters. */
export function isSafeUid(uid: string): boolean {
  return /^[0-9]+(\.[0-9]+)*$/.test(uid) && uid.length <= 64;
}
