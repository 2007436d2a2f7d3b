//! `xnat-gateway pseudonyms export`: the ledger (or a project's UID map) as CSV, to stdout or a new owner-only file.
import { open, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import type { Config } from '../config/schema.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { iterateUidMap } from '../store/sqlite/uid-map.ts';
import { CommandError } from './command.ts';
import { formatCsv } from '../csv.ts';
import { ExitCode } from './exit-codes.ts';
import { openLedgerDb, type PseudonymsOptions } from './pseudonyms-ledger.ts';

const EXPORT_HEADER = ['project', 'kind', 'issuer', 'original', 'label', 'source', 'created_at'];

/** Rows in CSV chunks, so a UID map of millions of rows is never one string. */
function* csvChunks(rows: Iterable<readonly string[]>, size = 5000): Generator<string> {
  let batch: (readonly string[])[] = [];
  for (const row of rows) {
    batch.push(row);
    if (batch.length >= size) {
      yield formatCsv(batch);
      batch = [];
    }
  }
  if (batch.length) {
    yield formatCsv(batch);
  }
}

/** Writes to a new owner-only file (never over an existing one), or to stdout without --output. */
async function writeOut(chunks: Iterable<string>, output: string | undefined): Promise<void> {
  if (output === undefined) {
    for (const chunk of chunks) {
      if (!process.stdout.write(chunk)) {
        await once(process.stdout, 'drain');
      }
    }
    return;
  }
  let handle;
  try {
    // 'wx': fail if it exists; 0600 because the export maps pseudonyms back to patients.
    handle = await open(output, 'wx', 0o600);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new CommandError(
      ExitCode.USAGE,
      code === 'EEXIST'
        ? `${output} exists; refusing to overwrite it (choose a new file name).`
        : `${output}: cannot be created (${code ?? String(err)}).`,
    );
  }
  try {
    for (const chunk of chunks) {
      await handle.write(chunk);
    }
    await handle.sync();
    await handle.close();
  } catch (err) {
    await handle.close().catch(() => undefined);
    // A half-written export is worse than none.
    await unlink(output).catch(() => undefined);
    throw err;
  }
}

/** Whether `project` has any UID mapping (the statement is closed again at once). */
function hasUids(db: Db, project: string): boolean {
  const it = iterateUidMap(db, project)[Symbol.iterator]();
  const first = it.next();
  it.return?.();
  return first.done !== true;
}

export async function exportCommand(cfg: Config, values: PseudonymsOptions): Promise<void> {
  if (values.uids && !values.project) {
    throw new CommandError(ExitCode.USAGE, 'export --uids needs --project P (id_old,id_new files are per project).');
  }
  const db = openLedgerDb(cfg);
  try {
    const ledger = createPseudonymLedger(db);
    if (
      values.project !== undefined &&
      !(values.uids ? hasUids(db, values.project) : (await ledger.rows(values.project)).length > 0)
    ) {
      throw new CommandError(
        ExitCode.NOINPUT,
        `Project ${values.project} has no pseudonyms in the ledger (project ids are case-sensitive; without --project the export lists every project).`,
      );
    }
    let rows: Iterable<readonly string[]>;
    if (values.uids) {
      rows = (function* (): Generator<readonly string[]> {
        yield ['id_old', 'id_new'];
        for (const r of iterateUidMap(db, values.project)) {
          yield [r.original, r.replacement];
        }
      })();
    } else {
      rows = [
        EXPORT_HEADER,
        ...(await ledger.rows(values.project)).map((r) => [
          r.project,
          r.kind,
          r.issuer,
          r.original,
          r.label,
          r.source,
          new Date(r.createdAt).toISOString(),
        ]),
      ];
    }
    await writeOut(csvChunks(rows), values.output);
    if (values.output !== undefined) {
      console.error(`Wrote ${values.output} (owner-only: it links pseudonyms to patients).`);
    }
  } finally {
    db.close();
  }
}
