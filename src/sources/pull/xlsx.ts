//! Reads the first worksheet of an XLSX workbook (Office Open XML) as rows of text, as a person sees them.
// Our own reader over yauzl (already a dependency) rather than a spreadsheet library: a list of
// accession numbers needs cell text, shared strings and date cells, nothing else, and we keep the
// zip under the same limits as every other upload (docs/adr/0012-pull-lists.md). Accession numbers
// typed as numbers come back without exponent or decimal point; date cells (by their number
// format) come back as YYYYMMDD, in the workbook's 1900 or 1904 date system.
import { fromBufferPromise, type Entry, type ZipFile } from 'yauzl';
import { parseXml, XmlError } from './xml.ts';

export class XlsxError extends Error {
  override readonly name = 'XlsxError';
}

export interface SheetRow {
  /** The spreadsheet's row number (1-based), for messages. */
  readonly line: number;
  readonly fields: string[];
}

export interface Sheet {
  readonly name: string;
  readonly rows: SheetRow[];
}

const MAX_ENTRIES = 10_000;
const MAX_COLUMNS = 16_384;

async function readEntries(
  buf: Buffer,
  wanted: (name: string) => boolean,
  maxBytes: number,
): Promise<Map<string, string>> {
  let zip: ZipFile;
  try {
    zip = await fromBufferPromise(buf, { lazyEntries: true, strictFileNames: false });
  } catch (err) {
    throw new XlsxError(`not a readable XLSX (zip) file: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (zip.entryCount > MAX_ENTRIES) {
    throw new XlsxError(`the workbook has ${String(zip.entryCount)} parts (at most ${String(MAX_ENTRIES)})`);
  }
  const out = new Map<string, string>();
  try {
    for (;;) {
      const entry = await new Promise<Entry | null>((resolve, reject) => {
        zip.once('entry', resolve);
        zip.once('end', () => {
          resolve(null);
        });
        zip.once('error', reject);
        zip.readEntry();
      });
      zip.removeAllListeners('entry').removeAllListeners('end').removeAllListeners('error');
      if (!entry) {
        break;
      }
      const name = entry.fileName.replace(/^\/+/, '');
      if (!wanted(name)) {
        continue;
      }
      if (entry.uncompressedSize > maxBytes) {
        throw new XlsxError(
          `part ${name} unpacks to ${String(entry.uncompressedSize)} bytes (at most ${String(maxBytes)})`,
        );
      }
      const stream = await zip.openReadStreamPromise(entry);
      const chunks: Buffer[] = [];
      let n = 0;
      for await (const c of stream as AsyncIterable<Buffer>) {
        n += c.length;
        // The header may lie about the size: count what is really inflated.
        if (n > maxBytes) {
          stream.destroy();
          throw new XlsxError(`part ${name} unpacks to more than ${String(maxBytes)} bytes`);
        }
        chunks.push(c);
      }
      out.set(name, Buffer.concat(chunks).toString('utf8'));
    }
  } catch (err) {
    if (err instanceof XlsxError) {
      throw err;
    }
    throw new XlsxError(`the XLSX file is damaged: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    zip.close();
  }
  return out;
}

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

/** Built-in number formats that are dates (ECMA-376 §18.8.30). */
const BUILTIN_DATE_FORMATS = new Set([14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 46, 47]);

function isDateFormat(code: string): boolean {
  // Strip quoted text, escapes and [colour]/[condition] sections; a date format still has d, m or y.
  const bare = code
    .replace(/"[^"]*"/g, '')
    .replace(/\\./g, '')
    .replace(/\[[^\]]*\]/g, '');
  return /[dy]/i.test(bare) || /m/i.test(bare.replace(/[hs]+[:.]?m+|m+[:.]?s+/gi, ''));
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

function readSharedStrings(xml: string | undefined): string[] {
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

function readDateStyles(xml: string | undefined): Set<number> {
  const dates = new Set<number>();
  if (xml === undefined) {
    return dates;
  }
  const custom = new Map<number, string>();
  const xfFormats: number[] = [];
  let inCellXfs = false;
  parseXml(xml, {
    open(name, a) {
      if (name === 'numFmt') {
        custom.set(Number(a.get('numFmtId')), a.get('formatCode') ?? '');
      } else if (name === 'cellXfs') {
        inCellXfs = true;
      } else if (name === 'xf' && inCellXfs) {
        xfFormats.push(Number(a.get('numFmtId') ?? 0));
      }
    },
    close(name) {
      if (name === 'cellXfs') {
        inCellXfs = false;
      }
    },
    text: () => undefined,
  });
  xfFormats.forEach((fmt, i) => {
    const code = custom.get(fmt);
    if (code !== undefined ? isDateFormat(code) : BUILTIN_DATE_FORMATS.has(fmt)) {
      dates.add(i);
    }
  });
  return dates;
}

function readSheet(
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
