//! `xnat-gateway pseudonyms import`: a checked lookup table into one project's ledger, all or nothing.
import { systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { createPseudonymLedger, LookupConflictError } from '../store/sqlite/pseudonyms.ts';
import { CommandError } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { openLedgerDb } from './pseudonyms-ledger.ts';
import { readLookupTable } from './pseudonyms-lookup-table.ts';

/** Imports `file` into `project`; the dispatcher has already checked FILE and --project. */
export async function importCommand(cfg: Config, file: string, project: string): Promise<void> {
  const table = await readLookupTable(file, project);
  const db = openLedgerDb(cfg);
  try {
    const ledger = createPseudonymLedger(db);
    const key = (issuer: string, patientId: string): string => JSON.stringify([issuer, patientId]);
    const before = new Map(
      (await ledger.rows(project)).filter((r) => r.kind === 'subject').map((r) => [key(r.issuer, r.original), r.label]),
    );
    try {
      await ledger.importLookup(project, table.rows, systemClock.now());
    } catch (err) {
      if (err instanceof LookupConflictError) {
        throw new CommandError(
          ExitCode.DATAERR,
          `${file} line ${String(table.lines[err.index] ?? '?')}: ${err.message}. Nothing was imported.`,
        );
      }
      throw err;
    }
    const after = new Map(table.rows.map((r) => [key(r.issuer.trim(), r.patientId.trim()), r.subject]));
    let added = 0;
    let relabelled = 0;
    for (const [k, label] of after) {
      const old = before.get(k);
      if (old === undefined) {
        added++;
      } else if (old !== label) {
        relabelled++;
      }
    }
    console.log(
      `Imported ${file} into project ${project}: ${String(added)} added, ${String(relabelled)} relabelled, ${String(after.size - added - relabelled)} unchanged${table.skipped ? `, ${String(table.skipped)} rows of other kinds or projects skipped` : ''}.`,
    );
    if (relabelled) {
      console.log('Sessions already delivered for relabelled patients stay under their old subject label in XNAT.');
    }
  } finally {
    db.close();
  }
}
