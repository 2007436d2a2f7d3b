//! The completeness report of a pull: one CSV line per series of every row (one per row without series), then totals.
// It answers "did we get everything we were asked for, and is it in XNAT?": per series the count
// the PACS gave, what arrived, what was delivered and what XNAT was verified to hold. Identifiers
// (accession number, patient ID, dates) appear only when asked for (a signed-in administrator),
// and never after the pull's retention ended. Cells that a spreadsheet would run as a formula are
// prefixed with a quote (CSV injection).
import { formatCsv } from '../../csv.ts';
import type { PullRecord, PullRow, SeriesRecord } from '../../contracts/pull-ledger.ts';
import { ROW_STATES, SUCCESS_STATES } from '../../contracts/pull-row-state.ts';

export const REPORT_COLUMNS = [
  'line',
  'state',
  'reason',
  'accession_number',
  'patient_id',
  'study_date',
  'study_instance_uid',
  'series_instance_uid',
  'modality',
  'series_number',
  'expected',
  'received',
  'delivered',
  'verified',
  'xnat_project',
  'xnat_subject',
  'xnat_session',
  'xnat_url',
] as const;

const safe = (v: string): string => (/^[=+\-@\t\r]/.test(v) ? `'${v}` : v);
const num = (n: number | null | undefined): string => (n === null || n === undefined ? '' : String(n));

function dateText(r: PullRow): string {
  const { studyDateFrom: a, studyDateTo: b } = r.key;
  if (a === null && b === null) {
    return '';
  }
  return a === b ? (a ?? '') : `${a ?? ''}-${b ?? ''}`;
}

export interface ReportTotals {
  readonly rows: number;
  readonly byState: Readonly<Partial<Record<string, number>>>;
  readonly succeeded: number;
  readonly expected: number;
  readonly received: number;
  readonly delivered: number;
  readonly verified: number;
}

/** Sums over every row and series of the pull. */
export function reportTotals(
  rows: readonly PullRow[],
  series: ReadonlyMap<number, readonly SeriesRecord[]>,
): ReportTotals {
  const byState: Partial<Record<string, number>> = {};
  let expected = 0;
  let received = 0;
  let delivered = 0;
  let verified = 0;
  for (const r of rows) {
    byState[r.state] = (byState[r.state] ?? 0) + 1;
    for (const s of series.get(r.id) ?? []) {
      expected += s.expected ?? 0;
      received += s.received;
      delivered += s.delivered ?? 0;
      verified += s.verified ?? 0;
    }
  }
  return {
    rows: rows.length,
    byState,
    succeeded: rows.filter((r) => SUCCESS_STATES.has(r.state)).length,
    expected,
    received,
    delivered,
    verified,
  };
}

/** The report as CSV text (RFC 4180, CRLF). */
export function reportCsv(
  pull: PullRecord,
  rows: readonly PullRow[],
  series: ReadonlyMap<number, readonly SeriesRecord[]>,
  o: { identifiers: boolean },
): string {
  const lines: string[][] = [[...REPORT_COLUMNS]];
  const ids = o.identifiers && pull.purgedAt === null;
  for (const r of rows) {
    const head = [
      String(r.line),
      r.state,
      r.reason ?? '',
      ids ? (r.key.accessionNumber ?? '') : '',
      ids ? (r.key.patientId ?? '') : '',
      ids ? dateText(r) : '',
      r.studyInstanceUid ?? '',
    ];
    const tail = [
      r.labels.project ?? '',
      r.labels.subject ?? '',
      r.xnatSession ?? r.labels.session ?? '',
      r.xnatUrl ?? '',
    ];
    const list = series.get(r.id) ?? [];
    if (list.length === 0) {
      lines.push([
        ...head,
        '',
        '',
        '',
        num(r.expectedInstances),
        r.studyInstanceUid ? String(r.receivedInstances) : '',
        '',
        '',
        ...tail,
      ]);
      continue;
    }
    for (const s of list) {
      lines.push([
        ...head,
        s.seriesInstanceUid,
        s.modality ?? '',
        s.seriesNumber ?? '',
        num(s.expected),
        String(s.received),
        num(s.delivered),
        num(s.verified),
        ...tail,
      ]);
    }
  }
  const t = reportTotals(rows, series);
  const states = ROW_STATES.filter((s) => t.byState[s])
    .map((s) => `${s} ${String(t.byState[s])}`)
    .join('; ');
  lines.push([
    'total',
    `${String(t.succeeded)} of ${String(t.rows)} rows complete`,
    states,
    '',
    '',
    '',
    '',
    '',
    '',
    '',
    String(t.expected),
    String(t.received),
    String(t.delivered),
    String(t.verified),
    '',
    '',
    '',
    '',
  ]);
  return formatCsv(lines.map((l) => l.map(safe)));
}
