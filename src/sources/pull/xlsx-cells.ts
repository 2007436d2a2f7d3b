//! An XLSX worksheet's cells as text, as a person sees them: shared strings, inline strings, numbers without exponent, dates.
import { XlsxError, type SheetRow } from './sheet.ts';
import { parseXml } from './xml.ts';

const MAX_COLUMNS = 16_384;

/** Column letters of a cell reference ("AB12" → 27, 0-based), or null. */
function columnOf(ref: string): number | null {
  const m = /^([A-Z]{1,3})\d+$/.exec(ref);
  if (!m?.[1]) {
    return null;
  }
  let n = 0;
  for (const ch of m[1]) {
    n = n * 26 + (ch.charCodeAt(0) - 64);
  }
  return n - 1;
}

/** YYYYMMDD of an Excel date serial number. */
function serialToDa(serial: number, date1904: boolean): string {
  // Day 0 of the 1900 system is 1899-12-30 (Lotus's phantom 29 Feb 1900 included); of 1904, 1904-01-01.
  const epoch = date1904 ? Date.UTC(1904, 0, 1) : Date.UTC(1899, 11, 30);
  const d = new Date(epoch + Math.floor(serial) * 86_400_000);
  return `${String(d.getUTCFullYear()).padStart(4, '0')}${String(d.getUTCMonth() + 1).padStart(2, '0')}${String(d.getUTCDate()).padStart(2, '0')}`;
}

/** A number as a person typed it: integers whole (no exponent), others as stored. */
function numberText(v: string): string {
  const n = Number(v);
  if (Number.isFinite(n) && Number.isInteger(n) && Math.abs(n) < 1e21) {
    return BigInt(n).toString();
  }
  return v;
}

/** The shared string table (xl/sharedStrings.xml), phonetic runs left out. */
export function readSharedStrings(xml: string | undefined): string[] {
  const out: string[] = [];
  if (xml === undefined) {
    return out;
  }
  let current: string[] | null = null;
  let inT = false;
  let phonetic = 0;
  parseXml(xml, {
    open(name) {
      if (name === 'si') {
        current = [];
      } else if (name === 'rPh') {
        phonetic++;
      } else if (name === 't') {
        inT = true;
      }
    },
    close(name) {
      if (name === 'si' && current) {
        out.push(current.join(''));
        current = null;
      } else if (name === 'rPh') {
        phonetic--;
      } else if (name === 't') {
        inT = false;
      }
    },
    text(t) {
      if (inT && phonetic === 0 && current) {
        current.push(t);
      }
    },
  });
  return out;
}

/** The worksheet's non-empty rows; XlsxError past `maxRows` or a cell beyond MAX_COLUMNS. */
export function readSheet(
  xml: string,
  c: { shared: string[]; dateStyles: Set<number>; date1904: boolean; maxRows: number },
): SheetRow[] {
  const rows: SheetRow[] = [];
  let row: { line: number; fields: string[] } | null = null;
  let cell: { col: number; type: string; style: number; value: string[]; inline: string[] } | null = null;
  let inV = false;
  let inT = false;
  let nextCol = 0;
  let lastLine = 0;
  parseXml(xml, {
    open(name, a) {
      if (name === 'row') {
        const r = Number(a.get('r'));
        const line = Number.isInteger(r) && r > lastLine ? r : lastLine + 1;
        lastLine = line;
        row = { line, fields: [] };
        nextCol = 0;
      } else if (name === 'c' && row) {
        const col = columnOf(a.get('r') ?? '') ?? nextCol;
        if (col >= MAX_COLUMNS) {
          throw new XlsxError(`row ${String(row.line)} has a cell beyond column ${String(MAX_COLUMNS)}`);
        }
        cell = { col, type: a.get('t') ?? 'n', style: Number(a.get('s') ?? 0), value: [], inline: [] };
        nextCol = col + 1;
      } else if (name === 'v') {
        inV = true;
      } else if (name === 't') {
        inT = true;
      }
    },
    close(name) {
      if (name === 'v') {
        inV = false;
      } else if (name === 't') {
        inT = false;
      } else if (name === 'c' && row && cell) {
        const v = cell.value.join('');
        let text: string;
        switch (cell.type) {
          case 's':
            text = c.shared[Number(v)] ?? '';
            break;
          case 'inlineStr':
            text = cell.inline.join('');
            break;
          case 'b':
            text = v === '1' ? 'TRUE' : 'FALSE';
            break;
          case 'd':
            text = v.slice(0, 10).replaceAll('-', '');
            break;
          case 'str':
          case 'e':
            text = v;
            break;
          default:
            text =
              v === ''
                ? ''
                : c.dateStyles.has(cell.style) && Number.isFinite(Number(v))
                  ? serialToDa(Number(v), c.date1904)
                  : numberText(v);
        }
        while (row.fields.length < cell.col) {
          row.fields.push('');
        }
        row.fields[cell.col] = text;
        cell = null;
      } else if (name === 'row' && row) {
        if (row.fields.some((f) => f !== '')) {
          if (rows.length >= c.maxRows + 1) {
            throw new XlsxError(`the worksheet has more than ${String(c.maxRows)} rows`);
          }
          rows.push(row);
        }
        row = null;
      }
    },
    text(t) {
      if (!cell) {
        return;
      }
      if (inV) {
        cell.value.push(t);
      } else if (inT) {
        cell.inline.push(t);
      }
    },
  });
  return rows;
}
