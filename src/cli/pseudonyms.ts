//! `xnat-gateway pseudonyms export|import`: the pseudonym ledger as CSV for the data controller, and lookup tables in.
import { existsSync } from 'node:fs';
import { open, readFile, unlink } from 'node:fs/promises';
import { once } from 'node:events';
import { systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { isXnatSafeLabel, XNAT_LABEL_MAX } from '../dicom/labels.ts';
import { openDb, type Db } from '../store/sqlite/db.ts';
import { createPseudonymLedger, iterateUidMap, LookupConflictError } from '../store/sqlite/pseudonyms.ts';
import { layoutFor } from '../spool/layout.ts';
import { CommandError, CONFIG_EXIT, CONFIG_OPTION, usageError, type CommandSpec } from './command.ts';
import { CsvError, formatCsv, parseCsv } from '../csv.ts';
import { ExitCode } from './exit-codes.ts';

/** Options of the `pseudonyms` command (parseArgs values). */
export interface PseudonymsOptions {
  readonly project?: string | undefined;
  readonly output?: string | undefined;
  /** Export the UID map as MIDI-style `id_old,id_new` instead of the label ledger. */
  readonly uids?: boolean | undefined;
}

/** Header names accepted on import, compared lower-case without spaces, `_` and `-`. */
const COLUMNS = {
  original: {
    names: ['patientid', 'original', 'old', 'idold'],
    shown: 'patient_id, patientid, original, old, id_old',
    required: true,
  },
  subject: {
    names: ['subject', 'label', 'new', 'idnew', 'subjectlabel'],
    shown: 'subject, label, new, id_new',
    required: true,
  },
  issuer: { names: ['issuer', 'issuerofpatientid'], shown: 'issuer, issuer_of_patient_id', required: false },
  // Present in our own export: lets an exported ledger be imported back safely.
  kind: { names: ['kind'], shown: 'kind', required: false },
  project: { names: ['project'], shown: 'project', required: false },
} as const;
type Role = keyof typeof COLUMNS;

const EXPORT_HEADER = ['project', 'kind', 'issuer', 'original', 'label', 'source', 'created_at'];

function openLedgerDb(cfg: Config): Db {
  const file = layoutFor(cfg.dataDir).dbFile;
  // Never create an empty database here: a missing file means a wrong --config or dataDir.
  if (!existsSync(file)) {
    throw new CommandError(ExitCode.NOINPUT, `${file}: no gateway database (is --config / dataDir right?).`);
  }
  return openDb(file);
}

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

async function exportCommand(cfg: Config, values: PseudonymsOptions): Promise<void> {
  if (values.uids && !values.project) {
    throw new CommandError(ExitCode.USAGE, 'export --uids needs --project P (id_old,id_new files are per project).');
  }
  const db = openLedgerDb(cfg);
  try {
    const ledger = createPseudonymLedger(db);
    if (
      values.project !== undefined &&
      !(values.uids ? hasUids(db, values.project) : ledger.rows(values.project).length > 0)
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
        ...ledger
          .rows(values.project)
          .map((r) => [
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

/** Finds each role's column in the header row; throws naming the accepted headers. */
function findColumns(file: string, header: readonly string[]): Partial<Record<Role, number>> {
  const found: Partial<Record<Role, number>> = {};
  header.forEach((raw, index) => {
    const name = raw
      .trim()
      .toLowerCase()
      .replace(/[\s_-]+/g, '');
    for (const role of Object.keys(COLUMNS) as Role[]) {
      if (!(COLUMNS[role].names as readonly string[]).includes(name)) {
        continue;
      }
      const other = found[role];
      if (other !== undefined) {
        throw new CommandError(
          ExitCode.DATAERR,
          `${file}: columns "${header[other] ?? ''}" and "${raw}" both give the ${role} column; keep one.`,
        );
      }
      found[role] = index;
    }
  });
  for (const role of Object.keys(COLUMNS) as Role[]) {
    if (COLUMNS[role].required && found[role] === undefined) {
      throw new CommandError(
        ExitCode.DATAERR,
        `${file}: no ${role === 'original' ? 'original patient ID' : 'subject label'} column in the header row; name it one of: ${COLUMNS[role].shown} (any case).`,
      );
    }
  }
  return found;
}

/** Why `label` is not XNAT-safe, without repeating it; null when it is. */
function labelProblem(label: string): string | null {
  if (isXnatSafeLabel(label)) {
    return null;
  }
  if (label === '') {
    return 'is empty';
  }
  if (label.length > XNAT_LABEL_MAX) {
    return `is longer than ${String(XNAT_LABEL_MAX)} characters`;
  }
  const bad = /[^A-Za-z0-9_-]/u.exec(label)?.[0] ?? '';
  return `contains ${bad.trim() ? `"${bad}"` : 'a space'} (XNAT allows only A-Z a-z 0-9 _ -)`;
}

interface LookupTable {
  readonly rows: { issuer: string; patientId: string; subject: string }[];
  readonly lines: number[];
  readonly skipped: number;
}

/** Reads and checks a lookup CSV: labels must already be XNAT-safe (never rewritten silently). */
async function readLookupTable(file: string, project: string): Promise<LookupTable> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (err) {
    throw new CommandError(
      ExitCode.NOINPUT,
      `${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)}).`,
    );
  }
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new CommandError(ExitCode.DATAERR, `${file}: not UTF-8 text; save it as "CSV UTF-8" (Excel) or UTF-8 CSV.`);
  }
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) {
      throw new CommandError(ExitCode.DATAERR, `${file} ${err.message}.`);
    }
    throw err;
  }
  const [header, ...data] = records;
  if (!header) {
    throw new CommandError(ExitCode.DATAERR, `${file}: empty; expected a header row and one row per patient.`);
  }
  const col = findColumns(file, header.fields);
  const cell = (fields: readonly string[], role: Role): string => {
    const i = col[role];
    return i === undefined ? '' : (fields[i] ?? '').trim();
  };
  const rows: LookupTable['rows'] = [];
  const lines: number[] = [];
  let skipped = 0;
  for (const { line, fields } of data) {
    if (fields.every((f) => f.trim() === '')) {
      continue;
    }
    // An exported ledger also holds session rows and other projects: only this project's subjects count.
    const kind = cell(fields, 'kind');
    const rowProject = cell(fields, 'project');
    if ((kind !== '' && kind !== 'subject') || (rowProject !== '' && rowProject !== project)) {
      skipped++;
      continue;
    }
    const patientId = cell(fields, 'original');
    const subject = cell(fields, 'subject');
    // Neither value is echoed: a mis-mapped column could hold patient identifiers.
    if (patientId === '') {
      throw new CommandError(ExitCode.DATAERR, `${file} line ${String(line)}: the original patient ID is empty.`);
    }
    const problem = labelProblem(subject);
    if (problem) {
      throw new CommandError(
        ExitCode.DATAERR,
        `${file} line ${String(line)}: the subject label ${problem}; labels are not rewritten on import, fix the table.`,
      );
    }
    rows.push({ issuer: cell(fields, 'issuer'), patientId, subject });
    lines.push(line);
  }
  if (!rows.length) {
    throw new CommandError(
      ExitCode.DATAERR,
      `${file}: no rows to import for project ${project}${skipped ? ` (${String(skipped)} rows of other kinds or projects skipped)` : ''}.`,
    );
  }
  return { rows, lines, skipped };
}

async function importCommand(cfg: Config, args: readonly string[], values: PseudonymsOptions): Promise<void> {
  const [file, ...extra] = args;
  const project = values.project;
  if (!file || extra.length || !project) {
    throw usageError(PSEUDONYMS_COMMAND, 'import needs one FILE and --project P.');
  }
  const table = await readLookupTable(file, project);
  const db = openLedgerDb(cfg);
  try {
    const ledger = createPseudonymLedger(db);
    const key = (issuer: string, patientId: string): string => JSON.stringify([issuer, patientId]);
    const before = new Map(
      ledger
        .rows(project)
        .filter((r) => r.kind === 'subject')
        .map((r) => [key(r.issuer, r.original), r.label]),
    );
    try {
      ledger.importLookup(project, table.rows, systemClock.now());
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

/**
 * `xnat-gateway pseudonyms export [--project P] [--uids] [--output FILE]` and
 * `xnat-gateway pseudonyms import FILE --project P`. Errors an operator can fix are CommandErrors
 * (USAGE, NOINPUT, DATAERR); anything else is a crash.
 */
export async function pseudonymsCommand(
  cfg: Config,
  args: readonly string[],
  values: PseudonymsOptions,
): Promise<void> {
  const [verb, ...rest] = args;
  if (verb === 'export' && rest.length === 0) {
    await exportCommand(cfg, values);
  } else if (verb === 'import') {
    await importCommand(cfg, rest, values);
  } else {
    throw usageError(
      PSEUDONYMS_COMMAND,
      verb === 'export'
        ? 'export takes no arguments.'
        : verb === undefined
          ? 'missing export or import.'
          : `unknown pseudonyms command "${verb}".`,
    );
  }
}

export const PSEUDONYMS_COMMAND: CommandSpec = {
  name: 'pseudonyms',
  summary: 'export the pseudonym ledger as CSV; import a lookup table',
  usage: [
    'pseudonyms export [--project P] [--uids] [--output FILE] [--config FILE]',
    'pseudonyms import FILE --project P [--config FILE]',
  ],
  details:
    'export writes project,kind,issuer,original,label,source,created_at (or id_old,id_new with --uids) to stdout or to a new owner-only file. import reads a CSV lookup table (patient_id, subject[, issuer]) into one project, all or nothing.',
  options: {
    project: { type: 'string', value: 'P', description: 'the XNAT project (required for import and --uids)' },
    uids: { type: 'boolean', description: 'export: the UID map as id_old,id_new' },
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      description: 'export: write to this new file (0600) instead of stdout',
    },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'import: the table was refused (line named); nothing was imported' },
    { code: ExitCode.NOINPUT, when: 'no gateway database, no such project in the ledger, or FILE cannot be read' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    await pseudonymsCommand(config(), positionals, {
      project: str('project'),
      output: str('output'),
      uids: values.uids === true,
    });
  },
};
