//! What both `pseudonyms` verbs share: the command's options and opening the existing gateway database.
import { existsSync } from 'node:fs';
import type { Config } from '../config/schema.ts';
import { openDb, type Db } from '../store/sqlite/db.ts';
import { layoutFor } from '../spool/layout.ts';
import { CommandError } from './command.ts';
import { ExitCode } from './exit-codes.ts';

/** Options of the `pseudonyms` command (parseArgs values). */
export interface PseudonymsOptions {
  readonly project?: string | undefined;
  readonly output?: string | undefined;
  /** Export the UID map as MIDI-style `id_old,id_new` instead of the label ledger. */
  readonly uids?: boolean | undefined;
}

export function openLedgerDb(cfg: Config): Db {
  const file = layoutFor(cfg.dataDir).dbFile;
  // Never create an empty database here: a missing file means a wrong --config or dataDir.
  if (!existsSync(file)) {
    throw new CommandError(ExitCode.NOINPUT, `${file}: no gateway database (is --config / dataDir right?).`);
  }
  return openDb(file);
}
