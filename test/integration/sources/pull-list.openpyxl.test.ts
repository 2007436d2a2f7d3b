//! Pull lists as a real spreadsheet program writes them: an XLSX made by openpyxl (Debian python3-openpyxl) read by our reader.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { readList } from '../../../src/sources/pull/list.ts';
import { parseRows } from '../../../src/sources/pull/rows.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';

// pyenv may shadow the Debian interpreter that has python3-openpyxl.
const PYTHON = '/usr/bin/python3';
const hasOpenpyxl = (): boolean => {
  try {
    return readFileSync('/usr/lib/python3/dist-packages/openpyxl/__init__.py').length > 0;
  } catch {
    // Not installed: the suite is skipped locally and fails under CI.
    return false;
  }
};

describeWithPeers(
  [PYTHON.slice(PYTHON.lastIndexOf('/') + 1)],
  'XLSX pull lists written by openpyxl',
  () => {
    const dir = mkdtempSync(join(tmpdir(), 'xg-pull-xlsx-'));
    afterAll(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('reads text, numbers typed as accession numbers, real date cells, non-breaking spaces, and only the first sheet', async () => {
      const file = join(dir, 'list.xlsx');
      const script = `
import datetime, sys
from openpyxl import Workbook
wb = Workbook()
ws = wb.active
ws.title = "Pull"
ws.append(["Accession Number", "Patient ID", "Study Date", "Project", "Session"])
ws.append(["ACC 1 ", None, None, "PRJ", "S_01"])
ws.append([12345678, None, None, "PRJ", None])
ws.append([None, "PAT9", datetime.date(2024, 2, 29), "PRJ", None])
ws.append([None, "PAT9", "2024-01-01 - 2024-01-31", None, None])
ws.append(["ACC 1", None, None, "PRJ", "S_01"])
ws.append(["\u00a0ACC7", None, None, None, None])
other = wb.create_sheet("Notes")
other.append(["AccessionNumber"])
other.append(["NOT_THIS"])
wb.save(sys.argv[1])
`;
      const r = await run(PYTHON, ['-c', script, file]);
      expect(r.code, r.stderr).toBe(0);
      const table = await readList(readFileSync(file), { maxBytes: 1024 * 1024, maxRows: 100 });
      expect(table.format).toBe('xlsx');
      const rows = parseRows(table, { project: null });
      expect(
        rows.rows.map((x) => [
          x.line,
          x.state,
          x.key.accessionNumber,
          x.key.patientId,
          x.key.studyDateFrom,
          x.key.studyDateTo,
          x.labels.session,
        ]),
      ).toEqual([
        [2, 'pending', 'ACC 1', null, null, null, 'S_01'],
        [3, 'pending', '12345678', null, null, null, null],
        [4, 'pending', null, 'PAT9', '20240229', '20240229', null],
        [5, 'pending', null, 'PAT9', '20240101', '20240131', null],
        [6, 'duplicate', 'ACC 1', null, null, null, 'S_01'],
        [7, 'pending', 'ACC7', null, null, null, null],
      ]);
      expect(rows.rows[0]?.notes).toEqual(['whitespace removed from AccessionNumber']);
    });
  },
  hasOpenpyxl() ? [] : ['python3-openpyxl'],
);
