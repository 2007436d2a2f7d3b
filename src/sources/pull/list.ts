//! Reads an uploaded pull list (CSV or XLSX) into a header and records of text.
// The format is told by the bytes, not the name: an XLSX is a zip (PK\3\4). CSV text is UTF-8
// (with or without BOM) or, when it is not valid UTF-8, Windows-1252 as Excel saves "CSV" in
// western locales. Separators ',', ';' and tab are recognised from the header line.
import { CsvError, parseCsv } from '../../csv.ts';
import { readXlsx } from './xlsx.ts';
import { XlsxError } from './sheet.ts';

export class ListError extends Error {
  override readonly name = 'ListError';
}

export interface ListRecord {
  /** Line (CSV) or row number (XLSX) in the file, 1-based. */
  readonly line: number;
  readonly fields: readonly string[];
}

export interface ListTable {
  readonly format: 'csv' | 'xlsx';
  readonly records: readonly ListRecord[];
}

function decodeText(buf: Buffer): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    // Not UTF-8: Excel's "CSV" in western locales is Windows-1252.
    return new TextDecoder('windows-1252').decode(buf);
  }
}

/** Reads `buf` as XLSX or CSV. Throws ListError with a reason a person can act on. */
export async function readList(buf: Buffer, o: { maxBytes: number; maxRows: number }): Promise<ListTable> {
  if (buf.length === 0) {
    throw new ListError('the file is empty');
  }
  if (buf.length > o.maxBytes) {
    throw new ListError(`the file has ${String(buf.length)} bytes (at most ${String(o.maxBytes)})`);
  }
  if (buf.subarray(0, 4).equals(Buffer.from([0x50, 0x4b, 0x03, 0x04]))) {
    try {
      const sheet = await readXlsx(buf, { maxPartBytes: o.maxBytes * 10, maxRows: o.maxRows });
      return { format: 'xlsx', records: sheet.rows };
    } catch (err) {
      if (err instanceof XlsxError) {
        throw new ListError(err.message);
      }
      throw err;
    }
  }
  if (buf.subarray(0, 8).equals(Buffer.from([0xd0, 0xcf, 0x11, 0xe0, 0xa1, 0xb1, 0x1a, 0xe1]))) {
    throw new ListError('this is an old Excel (.xls) file: save it as .xlsx or .csv');
  }
  const text = decodeText(buf);
  // eslint-disable-next-line no-control-regex -- binary files are told by their control bytes.
  if (/[\x00-\x08\x0e-\x1a]/.test(text.slice(0, 4096))) {
    throw new ListError('the file is neither CSV text nor an XLSX workbook');
  }
  let records;
  try {
    records = parseCsv(text);
  } catch (err) {
    if (err instanceof CsvError) {
      throw new ListError(`the CSV cannot be read: ${err.message}`);
    }
    throw err;
  }
  if (records.length > o.maxRows + 1) {
    throw new ListError(`the list has more than ${String(o.maxRows)} rows`);
  }
  return { format: 'csv', records: records.filter((r) => r.fields.some((f) => f.trim() !== '')) };
}
