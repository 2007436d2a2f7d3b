//! `xnat-gateway import DIR`: one folder into the spool and queue, through the watched folder's reader.
import { mkdirSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { realpath } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { systemClock, type Clock } from '../clock.ts';
import { composeIntake } from './compose-intake.ts';
import { folderPaths, SOURCE_TYPES } from './registry.ts';
import type { Config } from '../config/schema.ts';
import { createEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { loadFindHasher } from '../find/key.ts';
import { openDb } from '../store/sqlite/db.ts';
import { createDropLedger } from '../store/sqlite/drops.ts';
import { createDropReader, type DropProgress } from '../sources/folder/drop-reader.ts';
import { nameMatcher } from '../sources/folder/names.ts';
import { scanDrop } from '../sources/folder/scan.ts';
import { layoutFor } from '../spool/layout.ts';

export interface ImportSummary {
  readonly dropId: number;
  readonly files: number;
  readonly spooled: number;
  readonly ignored: number;
  readonly rejected: readonly { readonly file: string; readonly code: string; readonly reason: string }[];
  /** False when the folder kept changing or files stayed unreadable and it could not be read whole. */
  readonly complete: boolean;
}

/**
 * `xnat-gateway import DIR`: reads one folder into the spool and queue through the same intake and
 * drop reader as the watched folder, without watching and without moving anything. Safe beside a
 * running daemon (SQLite WAL, its own spool slots); the daemon's assembler completes the series.
 */
export async function importFolderOnce(
  cfg: Config,
  dir: string,
  o: { log: Logger; onProgress?: (p: DropProgress) => void; clock?: Clock },
): Promise<ImportSummary> {
  const clock = o.clock ?? systemClock;
  const log = o.log;
  const layout = layoutFor(cfg.dataDir);
  for (const d of [layout.dataDir, layout.spoolDir, layout.workDir]) {
    mkdirSync(d, { recursive: true, mode: 0o750 });
  }
  const finder = await loadFindHasher(cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys'));
  const db = openDb(layout.dbFile);
  // No spool reconciliation here: a running daemon may have writes in flight; our slots are our own.
  const { slots, intake, later, flushDurable } = composeIntake(cfg, db, {
    sources: SOURCE_TYPES,
    layout,
    clock,
    events: createEvents(),
    log,
    finder: () => finder,
  });
  const ledger = createDropLedger(db);
  const abs = await realpath(resolve(dir));
  const root = dirname(abs);
  const name = basename(abs);
  const paths = folderPaths(cfg.folder, layout, root);
  const reader = createDropReader({
    intake,
    ledger,
    log,
    clock,
    cfg: cfg.folder,
    paths,
    stopping: () => false,
    keepInPlace: true,
  });
  const isInProgress = nameMatcher([]);
  const attempts = new Map<string, number>();
  let complete = false;
  try {
    await slots.prime();
    // The user says the folder is complete: no stability wait. A file that changes while it is
    // read, or stays unreadable, gets a few more passes (one second apart).
    for (let pass = 0; pass < Math.max(3, cfg.folder.readAttempts) + 1 && !complete; pass++) {
      if (pass) {
        await sleep(1000);
      }
      const scan = await scanDrop(root, name, { realRoot: root, isInProgress, marker: null });
      complete =
        (await reader.read(
          name,
          scan.files.length === 1 && scan.files[0]?.rel === '' ? 'file' : 'folder',
          scan,
          attempts,
          o.onProgress,
        )) === 'released';
    }
    const drop = await ledger.latest(root, name);
    if (!drop) {
      throw new Error('The import left no drop record.');
    }
    // Given up: let what was read complete and be delivered; a later run adds the rest.
    const open = complete ? null : await ledger.openAssociation(drop.id);
    if (open !== null) {
      intake.closeAssociation(open, 'dropped');
    }
    const rejected = [...(await ledger.handled(drop.id)).values()]
      .filter((f) => f.outcome === 'rejected')
      .map((f) => ({ file: f.rel || name, code: f.code ?? '', reason: f.reason ?? '' }));
    return {
      dropId: drop.id,
      files: drop.filesTotal,
      spooled: drop.filesSpooled,
      ignored: drop.filesIgnored,
      rejected,
      complete,
    };
  } finally {
    // A postponed association close (disk full) is tried once more; if it still fails, the daemon's
    // next start-up closes the association.
    await later.stop();
    if (later.pending) {
      log.warn(
        { writes: later.pending },
        'Some database writes could not be made (disk full?); the daemon finishes them at its next start.',
      );
    }
    await flushDurable();
    db.close();
  }
}
