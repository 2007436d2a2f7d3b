//! Start-up reconciliation of the spool with the database.
// A slot file without an instance row was never acknowledged (Success is sent only after the
// commit): empty ones go back to the slot pool, written ones are removed — the sender retried or
// will retry. Leftovers of older layouts (a tmp/ directory) are removed too. Before that, rows
// committed while their file's fsync still ran (ADR 0013) are checked: a file of the recorded
// size whose dataset has the recorded SHA-256 is fsynced and its row marked durable; any other
// row was never acknowledged and goes with its file. All of this runs before anything is routed.
import { createHash } from 'node:crypto';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { parsePart10Header } from '../dicom/part10.ts';
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

/** Whether the file holds `size` bytes whose dataset (after group 0002) hashes to `sha256`; fsynced if so. */
async function wholeAndDurable(abs: string, size: number, sha256: string): Promise<boolean> {
  const fh = await open(abs, 'r').catch((err: unknown) => {
    if (err instanceof Error && 'code' in err && err.code === 'ENOENT') {
      return null;
    }
    throw err;
  });
  if (!fh) {
    return false;
  }
  try {
    if ((await fh.stat()).size !== size) {
      return false;
    }
    const head = Buffer.alloc(Math.min(size, 64 * 1024));
    await fh.read(head, 0, head.length, 0);
    const meta = parsePart10Header(head);
    if (!meta) {
      return false;
    }
    const hash = createHash('sha256');
    for await (const chunk of fh.createReadStream({
      start: meta.datasetOffset,
      autoClose: false,
      highWaterMark: 1 << 20,
    })) {
      hash.update(chunk as Buffer);
    }
    if (hash.digest('hex') !== sha256) {
      return false;
    }
    await fh.sync(); // whole in the page cache after a kill; now on the disk too
    return true;
  } finally {
    await fh.close();
  }
}

/** Checks the rows not yet marked durable; returns how many were dropped. */
async function settleNotDurable(layout: Layout, db: Db, log: Logger, node: string | null): Promise<number> {
  const store = createInstanceStore(db);
  const rows = await store.notDurable(node);
  const durable: number[] = [];
  let dropped = 0;
  for (const r of rows) {
    const abs = join(layout.spoolDir, r.path);
    if (await wholeAndDurable(abs, r.size, r.datasetSha256)) {
      durable.push(r.id);
    } else {
      await store.dropNotDurable(r.id, Date.now());
      await rm(abs, { force: true });
      dropped++;
    }
  }
  if (durable.length) {
    await store.markDurable(durable);
  }
  if (rows.length) {
    log.info({ checked: rows.length, dropped }, 'Checked instances committed before their spool file was durable.');
  }
  if (dropped) {
    log.warn({ dropped }, 'Removed instances whose spool file never became whole (never acknowledged).');
  }
  return dropped;
}

/** `node`: this gateway's node id; only its own rows not yet durable are checked. */
export async function reconcileSpool(
  layout: Layout,
  db: Db,
  log: Logger,
  node: string | null = null,
): Promise<ReconcileResult> {
  await settleNotDurable(layout, db, log, node);
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
      if (await instances.knowsPath(rel)) {
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
