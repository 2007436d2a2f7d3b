//! Where things live under the data directory.
import { createHash } from 'node:crypto';
import { join } from 'node:path';

export interface Layout {
  readonly dataDir: string;
  readonly spoolDir: string;
  readonly tmpDir: string;
  readonly dbFile: string;
  readonly workDir: string;
}

export function layoutFor(dataDir: string): Layout {
  const spoolDir = join(dataDir, 'spool');
  return { dataDir, spoolDir, tmpDir: join(spoolDir, 'tmp'), dbFile: join(dataDir, 'gateway.db'), workDir: join(dataDir, 'work') };
}

/**
 * Spool path (relative to spoolDir) of one received version of an instance. One directory per
 * series (hashed: UIDs can reach 64 characters), file named by SOP Instance UID plus a unique
 * suffix, so a replacement version never overwrites the one being delivered.
 */
export function spoolRelPath(studyUid: string, seriesUid: string, sopInstanceUid: string, suffix: string): string {
  const seriesKey = createHash('sha256').update(`${studyUid}\\${seriesUid}`).digest('hex').slice(0, 24);
  return join(seriesKey.slice(0, 2), seriesKey, `${sopInstanceUid}.${suffix}.dcm`);
}

/** A UID safe to use in a file name: digits and dots only, at most 64 characters. */
export function isSafeUid(uid: string): boolean {
  return /^[0-9]+(\.[0-9]+)*$/.test(uid) && uid.length <= 64;
}
