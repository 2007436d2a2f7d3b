import { describe, expect, it } from 'vitest';
import { parseCsv } from '../../../../src/csv.ts';
import type { PullRecord, PullRow, SeriesRecord } from '../../../../src/contracts/pull-ledger.ts';
import { reportCsv } from '../../../../src/sources/pull/report.ts';
import { canMove } from '../../../../src/contracts/pull-row-state.ts';

const pull: PullRecord = {
  id: 1,
  uid: 'u',
  pacs: 'p',
  project: 'P',
  fileName: null,
  state: 'active',
  pauseReason: null,
  notes: [],
  createdAt: 0,
  updatedAt: 0,
  endedAt: null,
  purgeAt: null,
  purgedAt: null,
  rowsTotal: 2,
  counts: {},
};
const row = (o: Partial<PullRow>): PullRow => ({
  id: 1,
  pullId: 1,
  line: 2,
  state: 'complete',
  key: { accessionNumber: '=cmd|x', patientId: 'PID', studyDateFrom: '20240101', studyDateTo: '20240101' },
  labels: { project: 'P', subject: 'S', session: null },
  notes: [],
  reason: null,
  duplicateOf: null,
  chosenStudyUid: null,
  studyInstanceUid: '1.2',
  candidates: null,
  expectedInstances: 3,
  receivedInstances: 3,
  attempts: 1,
  nextAttemptAt: null,
  lastCode: null,
  lastError: null,
  retrieve: null,
  xnatSession: null,
  xnatUrl: null,
  updatedAt: 0,
  finishedAt: 0,
  ...o,
});
const s = (uid: string, expected: number | null, received: number): SeriesRecord => ({
  seriesInstanceUid: uid,
  modality: 'CT',
  seriesNumber: '1',
  expected,
  received,
  delivered: null,
  verified: null,
});

describe('completeness report', () => {
  const rows = [
    row({}),
    row({ id: 2, line: 3, state: 'partial', reason: '2 of 3 instances received', receivedInstances: 2 }),
    row({ id: 3, line: 4, state: 'not-found', studyInstanceUid: null, expectedInstances: null, receivedInstances: 0 }),
  ];
  const series = new Map([
    [1, [s('1.2.1', 2, 2), s('1.2.2', 1, 1)]],
    [2, [s('2.1', 3, 2)]],
  ]);

  it('has one line per series, one per row without series, and totals', () => {
    const csv = parseCsv(reportCsv(pull, rows, series, { identifiers: false }));
    expect(csv).toHaveLength(6);
    expect(csv[1]?.fields.slice(0, 12)).toEqual(['2', 'complete', '', '', '', '', '1.2', '1.2.1', 'CT', '1', '2', '2']);
    expect(csv[4]?.fields.slice(0, 8)).toEqual(['4', 'not-found', '', '', '', '', '', '']);
    expect(csv[5]?.fields.slice(0, 3)).toEqual(['total', '1 of 3 rows complete', 'not-found 1; partial 1; complete 1']);
    expect(csv[5]?.fields.slice(10, 14)).toEqual(['6', '5', '0', '0']);
  });

  it('shows identifiers only when asked and before the purge, defused against spreadsheet formulas', () => {
    const shown = parseCsv(reportCsv(pull, rows, series, { identifiers: true }));
    expect(shown[1]?.fields.slice(3, 6)).toEqual(["'=cmd|x", 'PID', '20240101']);
    const purged = parseCsv(reportCsv({ ...pull, purgedAt: 5 }, rows, series, { identifiers: true }));
    expect(purged[1]?.fields.slice(3, 6)).toEqual(['', '', '']);
  });
});

describe('row states', () => {
  it("never leaves a final state except by a person's choice or XNAT verification", () => {
    expect(canMove('cancelled', 'pending')).toBe(false);
    expect(canMove('invalid', 'pending')).toBe(false);
    expect(canMove('retrieving', 'pending')).toBe(false);
    expect(canMove('ambiguous', 'pending')).toBe(true);
    expect(canMove('verified', 'delivered')).toBe(true);
  });
});
