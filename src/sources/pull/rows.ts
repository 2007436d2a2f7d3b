//! From a list's records to pull rows: columns recognised, every value checked and normalised, duplicates found.
// One bad row never stops the others (FLIP #1189: an accession with a space aborted a whole batch):
// it becomes an `invalid` row with the reason. Whitespace around values is removed and reported;
// a row asking for the same study as an earlier one is a `duplicate` of it (FLIP #1124), and the
// same request with different XNAT labels is refused rather than guessed.
import { isXnatSafeLabel } from '../../dicom/labels.ts';
import type { ListTable } from './list.ts';
import { DATE_HELP, EDGE_SPACE, keyProblem, parseDate, parseDateCell } from './cell-values.ts';
import { findHeader, SHOWN, type Field } from './columns.ts';
import type { ListRow, RowKey, RowLabels } from '../../contracts/pull-ledger.ts';

export type { ListRow, RowKey, RowLabels } from '../../contracts/pull-ledger.ts';

export interface ParsedList {
  readonly rows: readonly ListRow[];
  /** Remarks about the whole list (ignored columns). */
  readonly notes: readonly string[];
}

/** Validates and normalises the records of `table`; `project` is the pull's default target project. */
export function parseRows(table: ListTable, o: { project: string | null }): ParsedList {
  const { index, columns, ignored } = findHeader(table.records);
  const notes: string[] = [];
  if (ignored.length > 0) {
    notes.push(`Columns ignored: ${ignored.join(', ')}.`);
  }
  if (index > 0) {
    notes.push(`The header is on line ${String(table.records[index]?.line ?? 0)}; lines above it were ignored.`);
  }
  const rows: ListRow[] = [];
  const firstByKey = new Map<string, ListRow>();
  const sessionOwner = new Map<string, ListRow>();
  for (const rec of table.records.slice(index + 1)) {
    const raw: Partial<Record<Field, string>> = {};
    const rowNotes: string[] = [];
    for (const [col, field] of columns) {
      const v = rec.fields[col] ?? '';
      const trimmed = v.replace(EDGE_SPACE, '');
      if (trimmed !== v && trimmed !== '') {
        rowNotes.push(`whitespace removed from ${SHOWN[field]}`);
      }
      if (trimmed !== '') {
        raw[field] = trimmed;
      }
    }
    if (Object.keys(raw).length === 0) {
      continue;
    }
    const labels: RowLabels = {
      project: raw.project ?? o.project,
      subject: raw.subject ?? null,
      session: raw.session ?? null,
    };
    const problems: string[] = [];
    const accessionNumber = raw.accessionNumber ?? null;
    const patientId = raw.patientId ?? null;
    if (accessionNumber !== null) {
      const p = keyProblem('AccessionNumber', accessionNumber, 16);
      if (p) {
        problems.push(p);
      }
    }
    if (patientId !== null) {
      const p = keyProblem('PatientID', patientId, 64);
      if (p) {
        problems.push(p);
      }
    }
    let from: string | null = null;
    let to: string | null = null;
    if (raw.studyDate !== undefined) {
      const d = parseDateCell(raw.studyDate);
      if (typeof d === 'string') {
        problems.push(d);
      } else {
        ({ from, to } = d);
      }
    }
    for (const [field, set] of [
      [
        'studyDateFrom',
        (v: string) => {
          from = v;
        },
      ],
      [
        'studyDateTo',
        (v: string) => {
          to = v;
        },
      ],
    ] as const) {
      const v = raw[field];
      if (v === undefined) {
        continue;
      }
      if (raw.studyDate !== undefined) {
        problems.push(`give either StudyDate or ${SHOWN[field]}, not both`);
        continue;
      }
      const d = parseDate(v);
      if (d) {
        set(d);
      } else {
        problems.push(`${SHOWN[field]} "${v}" is not a date: ${DATE_HELP}`);
      }
    }
    if (from !== null && to !== null && from > to) {
      problems.push(`the date range ends (${to}) before it starts (${from})`);
    }
    if (accessionNumber === null && patientId === null) {
      problems.push('the row has neither AccessionNumber nor PatientID');
    } else if (accessionNumber === null && from === null && to === null) {
      problems.push(
        "PatientID needs a StudyDate or a date range (a patient's whole history is not pulled by accident)",
      );
    }
    for (const [name, v] of [
      ['Project', labels.project],
      ['Subject', labels.subject],
      ['Session', labels.session],
    ] as const) {
      if (v !== null && !isXnatSafeLabel(v)) {
        problems.push(`${name} "${v}" is not a valid XNAT label (letters, digits, _ and -, at most 64)`);
      }
    }
    if ((labels.subject !== null || labels.session !== null) && labels.project === null) {
      problems.push("Subject and Session labels need a Project (a column, or the pull's project)");
    }
    const key: RowKey = { accessionNumber, patientId, studyDateFrom: from, studyDateTo: to };
    const base = { line: rec.line, key, labels, notes: rowNotes, duplicateOf: null };
    if (problems.length > 0) {
      rows.push({ ...base, state: 'invalid', reason: `${problems.join('; ')}.` });
      continue;
    }
    const k = JSON.stringify([accessionNumber, accessionNumber === null ? patientId : (patientId ?? ''), from, to]);
    const first = firstByKey.get(k);
    if (first) {
      const same =
        first.labels.project === labels.project &&
        first.labels.subject === labels.subject &&
        first.labels.session === labels.session;
      rows.push(
        same
          ? {
              ...base,
              state: 'duplicate',
              reason: `the same request as line ${String(first.line)}`,
              duplicateOf: first.line,
            }
          : {
              ...base,
              state: 'invalid',
              reason: `the same request as line ${String(first.line)} but with different XNAT labels; keep one of them.`,
            },
      );
      continue;
    }
    // XNAT session labels are unique within a project, whatever the subject: a second study given
    // the same one would be merged into the first's session, or filed as "<label>_2".
    const sk = JSON.stringify([labels.project, labels.session]);
    if (labels.session !== null) {
      const owner = sessionOwner.get(sk);
      if (owner) {
        rows.push({
          ...base,
          state: 'invalid',
          reason: `Session "${labels.session}" is also given to line ${String(owner.line)} in project ${labels.project ?? ''}: XNAT session labels are unique within a project, so two studies cannot both have it.`,
        });
        continue;
      }
    }
    const row: ListRow = { ...base, state: 'pending', reason: null };
    firstByKey.set(k, row);
    if (labels.session !== null) {
      sessionOwner.set(sk, row);
    }
    rows.push(row);
  }
  return { rows, notes };
}
