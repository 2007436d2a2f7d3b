//! Start-up clean-up of the spool: temp files from interrupted receives and files whose row never committed.
// Neither was ever acknowledged (Success is sent only after the commit), so removing them loses
// nothing: the sender retried or will retry.
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../queue/db.ts';
import type { Logger } from '../log.ts';
import type { Layout } from './layout.ts';

export async function reconcileSpool(layout: Layout, db: Db, log: Logger): Promise<number> {
  let removed = 0;
  for (const f of await readdir(layout.tmpDir)) {
    await rm(join(layout.tmpDir, f), { force: true, recursive: true });
    removed++;
  }
  const known = db.prepare(`SELECT 1 FROM instances WHERE path = ?`).pluck();
  for (const top of await readdir(layout.spoolDir)) {
    if (top === 'tmp' || !/^[0-9a-f]{2}$/.test(top)) continue;
    for (const seriesDir of await readdir(join(layout.spoolDir, top))) {
      for (const f of await readdir(join(layout.spoolDir, top, seriesDir))) {
        const rel = join(top, seriesDir, f);
        if (!known.get(rel)) {
          await rm(join(layout.spoolDir, rel), { force: true });
          removed++;
        }
      }
    }
  }
  if (removed) log.warn({ removed }, 'Removed spool files that were never acknowledged.');
  return removed;
}
