//! Where things live under the data directory.
import { chmodSync, mkdirSync } from 'node:fs';
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

/** Creates the data, spool and work directories, none readable beyond owner and group (patient data). */
export function createLayoutDirs(layout: Layout): void {
  for (const dir of [layout.dataDir, layout.spoolDir, layout.workDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }
  chmodSync(layout.dataDir, 0o750);
}

/** A UID safe to use in a file name: digits and dots only, at most 64 characters. */
export function isSafeUid(uid: string): boolean {
  return /^[0-9]+(\.[0-9]+)*$/.test(uid) && uid.length <= 64;
}
