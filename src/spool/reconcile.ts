//! Start-up reconciliation of the spool with the database.
// A slot file without an instance row was never acknowledged (Success is sent only after the
// commit): empty ones go back to the slot pool, written ones are removed — the sender retried or
// will retry. Leftovers of older layouts (a tmp/ directory) are removed too.
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Db } from '../store/sqlite/db.ts';
import { createInstanceStore } from '../store/sqlite/instances.ts';
import type { Logger } from '../log.ts';
import type { Layout } from './layout.ts';
import { SLOTS_DIR, type Slot } from './slots.ts';

export interface ReconcileResult {
  /** Empty slots to hand back to the pool. */
  readonly freeSlots: Slot[];
  /** Written files that no row references, now deleted. */
  readonly removed: number;
}

/**
 * Empties the work directory at start-up: de-identified copies of jobs, unpacked zips of drops and
 * explain uploads that a killed process left there (they may hold identifiable data, and they hold
 * disk). Returns how many entries were removed.
 */
export async function sweepWorkDir(layout: Layout, log: Logger): Promise<number> {
  const entries = await readdir(layout.workDir).catch((err: unknown) => {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') {
      return [];
    }
    throw err;
  });
  for (const e of entries) {
    await rm(join(layout.workDir, e), { recursive: true, force: true });
  }
  if (entries.length) {
    log.warn({ entries: entries.length }, 'Removed what a killed process left in the work directory.');
  }
  return entries.length;
}

export async function reconcileSpool(layout: Layout, db: Db, log: Logger): Promise<ReconcileResult> {
  await rm(join(layout.spoolDir, 'tmp'), { recursive: true, force: true });
  const instances = createInstanceStore(db);
  const freeSlots: Slot[] = [];
  let removed = 0;
  const root = join(layout.spoolDir, SLOTS_DIR);
  const subs = await readdir(root).catch((err: unknown) => {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') {
      return [];
    }
    throw err;
  });
  for (const sub of subs) {
    for (const name of await readdir(join(root, sub))) {
      const rel = join(SLOTS_DIR, sub, name);
      if (instances.knowsPath(rel)) {
        continue;
      }
      const abs = join(layout.spoolDir, rel);
      if ((await stat(abs)).size === 0) {
        freeSlots.push({ rel, abs });
      } else {
        await rm(abs, { force: true });
        removed++;
      }
    }
  }
  if (removed) {
    log.warn({ removed }, 'Removed spool files that were never acknowledged.');
  }
  return { freeSlots, removed };
}
