import { describe, expect, it } from 'vitest';
import { ZipFile } from 'yazl';
import { ListError, readList } from '../../../../src/sources/pull/list.ts';
import { parseRows } from '../../../../src/sources/pull/rows.ts';
import { readXlsx } from '../../../../src/sources/pull/xlsx.ts';
import { XlsxError } from '../../../../src/sources/pull/sheet.ts';

const limits = { maxBytes: 1024 * 1024, maxRows: 1000 };

/** A workbook as Excel writes one: shared strings, a date style, numbers, an inline string. */
async function workbook(parts: Record<string, string>): Promise<Buffer> {
  const zip = new ZipFile();
  for (const [name, text] of Object.entries(parts)) {
    zip.addBuffer(Buffer.from(text), name);
  }
  zip.end();
  const chunks: Buffer[] = [];
  for await (const c of zip.outputStream as AsyncIterable<Buffer>) {
    chunks.push(c);
  }
  return Buffer.concat(chunks);
}

const WORKBOOK = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships">
<workbookPr/><sheets><sheet name="Accessions" sheetId="1" r:id="rId1"/></sheets></workbook>`;
const RELS = `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">
<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>`;
const STYLES = `<?xml version="1.0"?><styleSheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">
<numFmts count="1"><numFmt numFmtId="164" formatCode="yyyy\\-mm\\-dd;@"/></numFmts>
<cellXfs count="3"><xf numFmtId="0"/><xf numFmtId="164" applyNumberFormat="1"/><xf numFmtId="14"/></cellXfs></styleSheet>`;
const SHARED = `<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="4" uniqueCount="4">
<si><t>AccessionNumber</t></si><si><t>Study Date</t></si><si><r><t>AC</t></r><r><rPr><b/></rPr><t>C 2 </t></r></si><si><t xml:space="preserve"> Project</t></si></sst>`;
const SHEET = `<?xml version="1.0"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>
<row r="1"><c r="A1" t="s"><v>0</v></c><c r="B1" t="s"><v>1</v></c><c r="C1" t="s"><v>3</v></c></row>
<row r="2"><c r="A2"><v>123456789012</v></c><c r="B2" s="1"><v>45292</v></c><c r="C2" t="inlineStr"><is><t>P1</t></is></c></row>
<row r="4"><c r="A4" t="s"><v>2</v></c><c r="C4" t="inlineStr"><is><t>P&amp;1</t></is></c></row>
<row r="5"><c r="B5" s="2"><v>45293</v></c></row>
</sheetData></worksheet>`;

describe('XLSX lists', () => {
  it('reads cell text as a person sees it: shared and inline strings, whole numbers, date cells as YYYYMMDD', async () => {
    const buf = await workbook({
      'xl/workbook.xml': WORKBOOK,
      'xl/_rels/workbook.xml.rels': RELS,
      'xl/styles.xml': STYLES,
      'xl/sharedStrings.xml': SHARED,
      'xl/worksheets/sheet1.xml': SHEET,
    });
    const sheet = await readXlsx(buf, { maxPartBytes: 1e6, maxRows: 100 });
    expect(sheet.name).toBe('Accessions');
    expect(sheet.rows).toEqual([
      { line: 1, fields: ['AccessionNumber', 'Study Date', ' Project'] },
      { line: 2, fields: ['123456789012', '20240101', 'P1'] },
      { line: 4, fields: ['ACC 2 ', '', 'P&1'] },
      { line: 5, fields: ['', '20240102'] },
    ]);
  });

  it('uses the 1904 date system when the workbook says so', async () => {
    const wb = WORKBOOK.replace('<workbookPr/>', '<workbookPr date1904="1"/>');
    const buf = await workbook({
      'xl/workbook.xml': wb,
      'xl/_rels/workbook.xml.rels': RELS,
      'xl/styles.xml': STYLES,
      'xl/sharedStrings.xml': SHARED,
      'xl/worksheets/sheet1.xml': SHEET,
    });
    const sheet = await readXlsx(buf, { maxPartBytes: 1e6, maxRows: 100 });
    expect(sheet.rows[1]?.fields[1]).toBe('20280102');
  });

  it('refuses a document type declaration (no entity expansion), a part over the size limit, and a damaged zip', async () => {
    const evil = await workbook({
      'xl/workbook.xml': `<!DOCTYPE x [<!ENTITY a "aaaa">]>${WORKBOOK}`,
      'xl/worksheets/sheet1.xml': SHEET,
    });
    await expect(readXlsx(evil, { maxPartBytes: 1e6, maxRows: 100 })).rejects.toThrow(
      /Document type declarations are not accepted/,
    );
    const big = await workbook({ 'xl/workbook.xml': WORKBOOK, 'xl/worksheets/sheet1.xml': SHEET + ' '.repeat(5000) });
    await expect(readXlsx(big, { maxPartBytes: 4000, maxRows: 100 })).rejects.toThrow(XlsxError);
    const cut = (await workbook({ 'xl/workbook.xml': WORKBOOK })).subarray(0, 60);
    await expect(readList(cut, limits)).rejects.toThrow(ListError);
  });

  it('refuses a workbook without worksheet or with too many rows', async () => {
    await expect(
      readXlsx(await workbook({ 'xl/workbook.xml': WORKBOOK.replace(/<sheets>.*<\/sheets>/s, '<sheets/>') }), {
        maxPartBytes: 1e6,
        maxRows: 10,
      }),
    ).rejects.toThrow(/no worksheet/);
    await expect(
      readXlsx(
        await workbook({
          'xl/workbook.xml': WORKBOOK,
          'xl/_rels/workbook.xml.rels': RELS,
          'xl/sharedStrings.xml': SHARED,
          'xl/worksheets/sheet1.xml': SHEET,
        }),
        { maxPartBytes: 1e6, maxRows: 2 },
      ),
    ).rejects.toThrow(/more than 2 rows/);
  });
});

describe('CSV lists', () => {
  it('reads UTF-8 with a BOM, semicolons, and Windows-1252 as Excel saves it', async () => {
    const t = await readList(Buffer.from('\uFEFFAccessionNumber;Project\r\nA1;P1\r\n\r\n;\r\n'), limits);
    expect(t).toEqual({
      format: 'csv',
      records: [
        { line: 1, fields: ['AccessionNumber', 'Project'] },
        { line: 2, fields: ['A1', 'P1'] },
      ],
    });
    const latin = await readList(
      Buffer.from([...Buffer.from('PatientID,StudyDate\nM'), 0xfc, ...Buffer.from('LLER,20240101\n')]),
      limits,
    );
    expect(latin.records[1]?.fields[0]).toBe('MüLLER');
  });

  it('refuses empty, binary, old Excel and oversized files with a reason', async () => {
    await expect(readList(Buffer.alloc(0), limits)).rejects.toThrow('the file is empty');
    await expect(readList(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1, 0]), limits)).rejects.toThrow(
      /old Excel/,
    );
    await expect(readList(Buffer.from([1, 2, 3, 0, 0, 5]), limits)).rejects.toThrow(/neither CSV text nor an XLSX/);
    await expect(readList(Buffer.alloc(2000, 0x41), { maxBytes: 1000, maxRows: 10 })).rejects.toThrow(/at most 1000/);
    await expect(readList(Buffer.from('a,"b\n1,2\n'), limits)).rejects.toThrow(/quoted field is not closed/);
  });
});

describe('rows', () => {
  const rows = (csv: string, project: string | null = null) =>
    parseRows(
      {
        format: 'csv',
        records: csv
          .split('\n')
          .filter(Boolean)
          .map((l, i) => ({ line: i + 1, fields: l.split(',') })),
      },
      { project },
    );

  it('trims whitespace (also non-breaking and zero-width) and says so', () => {
    const r = rows('Accession Number\nACC1 \n\u00a0ACC2\u200b\nACC3');
    expect(r.rows.map((x) => [x.state, x.key.accessionNumber, x.notes])).toEqual([
      ['pending', 'ACC1', ['whitespace removed from AccessionNumber']],
      ['pending', 'ACC2', ['whitespace removed from AccessionNumber']],
      ['pending', 'ACC3', []],
    ]);
  });

  it('marks repeated requests as duplicates of the first, and refuses a repeat with other labels', () => {
    const r = rows('AccessionNumber,Project,Subject,Session\nA1,P,S1,E1\nA1 ,P,S1,E1\nA1,P,S2,E9\nA2,P,S1,E1');
    expect(r.rows.map((x) => [x.line, x.state, x.duplicateOf])).toEqual([
      [2, 'pending', null],
      [3, 'duplicate', 2],
      [4, 'invalid', null],
      [5, 'invalid', null],
    ]);
    expect(r.rows[2]?.reason).toMatch(/same request as line 2 but with different XNAT labels/);
    expect(r.rows[3]?.reason).toMatch(/Session "E1" is also given to line 2/);
  });

  it('refuses a Session label given twice in one project even under different subjects (XNAT labels are unique per project)', () => {
    const r = rows('AccessionNumber,Project,Subject,Session\nA1,P,S1,E1\nA2,P,S2,E1\nA3,Q,S2,E1\nA4,P,S2,E2');
    expect(r.rows.map((x) => [x.line, x.state])).toEqual([
      [2, 'pending'],
      [3, 'invalid'],
      [4, 'pending'],
      [5, 'pending'],
    ]);
    expect(r.rows[1]?.reason).toMatch(
      /Session "E1" is also given to line 2 in project P: XNAT session labels are unique/,
    );
  });

  it('refuses bad values row by row, never the whole list', () => {
    const r = rows(
      [
        'AccessionNumber,PatientID,StudyDate,Project',
        'A*1,,,',
        'ABCDEFGHIJKLMNOPQ,,,',
        ',P1,,',
        ',P1,01/02/2024,',
        ',P1,20240230,',
        ',P2,20240101-20231231,',
        ',P3,2024-01-01,bad label!',
        'A\\B,,,',
        ',P4,20240101-20240131,PRJ',
        '',
      ].join('\n'),
    );
    expect(r.rows.map((x) => x.state)).toEqual([
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'invalid',
      'pending',
    ]);
    expect(r.rows.map((x) => x.reason)).toEqual([
      expect.stringMatching(/wildcards/),
      expect.stringMatching(/17 characters \(at most 16\)/),
      expect.stringMatching(/PatientID needs a StudyDate/),
      expect.stringMatching(/ambiguous and refused/),
      expect.stringMatching(/not a date or date range/),
      expect.stringMatching(/ends \(20231231\) before it starts/),
      expect.stringMatching(/Project "bad label!" is not a valid XNAT label/),
      expect.stringMatching(/backslash/),
      null,
    ]);
    expect(r.rows[8]?.key).toEqual({
      accessionNumber: null,
      patientId: 'P4',
      studyDateFrom: '20240101',
      studyDateTo: '20240131',
    });
  });

  it("takes the pull's project as default and needs one for subject and session labels", () => {
    expect(rows('AccessionNumber,Subject\nA1,S1', 'PRJ').rows[0]?.labels).toEqual({
      project: 'PRJ',
      subject: 'S1',
      session: null,
    });
    expect(rows('AccessionNumber,Subject\nA1,S1').rows[0]?.reason).toMatch(/need a Project/);
  });

  it('finds the header below title lines, reports ignored columns, and refuses a list without key columns', () => {
    const r = rows('Study list for project X\nNotes,Accession,Requested by\nx,A1,Dr Who');
    expect(r.notes).toEqual([
      'Columns ignored: Notes, Requested by.',
      'The header is on line 2; lines above it were ignored.',
    ]);
    expect(r.rows).toHaveLength(1);
    expect(() => rows('Name,Date\nx,y')).toThrow(/no header row names an AccessionNumber or PatientID column/);
  });

  it('accepts StudyDateFrom/StudyDateTo and refuses them beside StudyDate', () => {
    const r = rows('PatientID,StudyDateFrom,StudyDateTo,StudyDate\nP1,2024-01-01,2024-02-01,\nP2,20240101,,20240101');
    expect(r.rows[0]?.key).toMatchObject({ studyDateFrom: '20240101', studyDateTo: '20240201' });
    expect(r.rows[1]?.reason).toMatch(/either StudyDate or StudyDateFrom/);
  });
});
