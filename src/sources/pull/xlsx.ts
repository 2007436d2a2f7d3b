//! Reads the first worksheet of an XLSX workbook (Office Open XML) as rows of text, as a person sees them.
// Our own reader over yauzl (already a dependency) rather than a spreadsheet library: a list of
// accession numbers needs cell text, shared strings and date cells, nothing else, and we keep the
// zip under the same limits as every other upload (docs/adr/0012-pull-lists.md). Accession numbers
// typed as numbers come back without exponent or decimal point; date cells (by their number
// format) come back as YYYYMMDD, in the workbook's 1900 or 1904 date system.
import { readSharedStrings, readSheet } from './xlsx-cells.ts';
import { readDateStyles } from './xlsx-styles.ts';
import { readEntries } from './xlsx-zip.ts';
import { XlsxError, type Sheet } from './sheet.ts';
import { parseXml, XmlError } from './xml.ts';

/** A relationship target of xl/workbook.xml as a part name (relative to xl/, or absolute). */
function resolveTarget(target: string): string {
  if (target.startsWith('/')) {
    return target.slice(1);
  }
  const parts = ['xl'];
  for (const p of target.split('/')) {
    if (p === '..') {
      parts.pop();
    } else if (p !== '.' && p !== '') {
      parts.push(p);
    }
  }
  return parts.join('/');
}

/** Reads the first worksheet of `buf`. Throws XlsxError for anything that is not a readable workbook. */
export async function readXlsx(buf: Buffer, o: { maxPartBytes: number; maxRows: number }): Promise<Sheet> {
  const parts = await readEntries(
    buf,
    (n) =>
      n === 'xl/workbook.xml' ||
      n === 'xl/_rels/workbook.xml.rels' ||
      n === 'xl/sharedStrings.xml' ||
      n === 'xl/styles.xml' ||
      n.startsWith('xl/worksheets/'),
    o.maxPartBytes,
  );
  const workbook = parts.get('xl/workbook.xml');
  if (workbook === undefined) {
    throw new XlsxError('not an XLSX workbook (xl/workbook.xml is missing)');
  }
  try {
    let date1904 = false;
    let first: { name: string; rid: string } | null = null;
    parseXml(workbook, {
      open(name, a) {
        if (name === 'workbookPr') {
          date1904 = a.get('date1904') === '1' || a.get('date1904') === 'true';
        }
        if (name === 'sheet' && !first) {
          first = { name: a.get('name') ?? 'Sheet1', rid: a.get('id') ?? '' };
        }
      },
      close: () => undefined,
      text: () => undefined,
    });
    const sheet = first as { name: string; rid: string } | null;
    if (!sheet) {
      throw new XlsxError('the workbook has no worksheet');
    }
    let path = 'xl/worksheets/sheet1.xml';
    const rels = parts.get('xl/_rels/workbook.xml.rels');
    if (rels !== undefined) {
      parseXml(rels, {
        open(name, a) {
          if (name === 'Relationship' && a.get('Id') === sheet.rid && a.get('Target')) {
            path = resolveTarget(a.get('Target') ?? '');
          }
        },
        close: () => undefined,
        text: () => undefined,
      });
    }
    const xml = parts.get(path);
    if (xml === undefined) {
      throw new XlsxError(`worksheet ${sheet.name} (${path}) is missing`);
    }
    const shared = readSharedStrings(parts.get('xl/sharedStrings.xml'));
    const dateStyles = readDateStyles(parts.get('xl/styles.xml'));
    return { name: sheet.name, rows: readSheet(xml, { shared, dateStyles, date1904, maxRows: o.maxRows }) };
  } catch (err) {
    if (err instanceof XmlError) {
      throw new XlsxError(`the workbook's XML is malformed: ${err.message}`);
    }
    throw err;
  }
}
