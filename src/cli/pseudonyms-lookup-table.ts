//! Reading a lookup CSV for `pseudonyms import`: header roles, XNAT-safe labels, rows of one project.
import { readFile } from 'node:fs/promises';
import { isXnatSafeLabel, XNAT_LABEL_MAX } from '../dicom/labels.ts';
import { CommandError } from './command.ts';
import { CsvError, parseCsv } from '../csv.ts';
import { ExitCode } from './exit-codes.ts';

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

export interface LookupTable {
  readonly rows: { issuer: string; patientId: string; subject: string }[];
  readonly lines: number[];
  readonly skipped: number;
}

/** Reads and checks a lookup CSV: labels must already be XNAT-safe (never rewritten silently). */
export async function readLookupTable(file: string, project: string): Promise<LookupTable> {
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
