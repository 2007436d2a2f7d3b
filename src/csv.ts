//! A small RFC 4180 CSV reader and writer for the ledger's import and export files.
// Reading accepts what spreadsheets actually save: a UTF-8 BOM, CRLF, LF or bare CR line ends
// (Excel for Mac), and `;` or tab as separator (Excel in locales whose decimal mark is a comma).

/** One record and the physical line it starts on (1-based), for error messages. */
export interface CsvRecord {
  readonly line: number;
  readonly fields: string[];
}

/** A CSV file that cannot be read as CSV; `line` is where the offending record starts. */
export class CsvError extends Error {
  override readonly name = 'CsvError';
  readonly line: number;
  constructor(line: number, message: string) {
    super(`line ${String(line)}: ${message}`);
    this.line = line;
  }
}

export type CsvDelimiter = ',' | ';' | '\t';

/**
 * Guesses the separator from the first line (the header): `,` unless that line has no comma
 * outside quotes but has `;` or a tab.
 */
export function sniffDelimiter(text: string): CsvDelimiter {
  let quoted = false;
  const seen = { ',': 0, ';': 0, '\t': 0 };
  for (const ch of text.replace(/^\uFEFF/, '')) {
    if (ch === '"') {
      quoted = !quoted;
    } else if (!quoted && (ch === '\n' || ch === '\r')) {
      break;
    } else if (!quoted && (ch === ',' || ch === ';' || ch === '\t')) {
      seen[ch]++;
    }
  }
  if (seen[','] > 0) {
    return ',';
  }
  if (seen[';'] > 0) {
    return ';';
  }
  return seen['\t'] > 0 ? '\t' : ',';
}

/**
 * Parses CSV text into records. Quoted fields may hold the separator, `""` (one quote) and line
 * breaks. Empty lines are skipped; a line of separators only (`,,`) is a record of empty fields.
 * Throws CsvError for an unterminated quote or text after a closing quote.
 */
export function parseCsv(text: string, delimiter: CsvDelimiter = sniffDelimiter(text)): CsvRecord[] {
  const src = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const records: CsvRecord[] = [];
  let line = 1;
  let i = 0;
  const eol = (at: number): number =>
    src[at] === '\r' && src[at + 1] === '\n' ? 2 : src[at] === '\r' || src[at] === '\n' ? 1 : 0;
  while (i < src.length) {
    const start = line;
    const nl = eol(i);
    if (nl) {
      // An empty line: no record.
      i += nl;
      line++;
      continue;
    }
    const fields: string[] = [];
    for (;;) {
      let value = '';
      if (src[i] === '"') {
        const quoteLine = line;
        i++;
        for (;;) {
          if (i >= src.length) {
            throw new CsvError(quoteLine, 'a quoted field is not closed (missing ")');
          }
          const ch = src[i] ?? '';
          if (ch === '"') {
            if (src[i + 1] === '"') {
              value += '"';
              i += 2;
              continue;
            }
            i++;
            break;
          }
          const inner = eol(i);
          if (inner) {
            value += src.slice(i, i + inner);
            i += inner;
            line++;
            continue;
          }
          value += ch;
          i++;
        }
        if (i < src.length && src[i] !== delimiter && !eol(i)) {
          throw new CsvError(
            line,
            'unexpected text after a closing quote (a quote inside a quoted field must be doubled: "")',
          );
        }
      } else {
        // Unquoted: up to the separator or the line end; a stray quote is kept as it is.
        while (i < src.length && src[i] !== delimiter && !eol(i)) {
          value += src[i] ?? '';
          i++;
        }
      }
      fields.push(value);
      if (src[i] === delimiter) {
        i++;
        continue;
      }
      break;
    }
    records.push({ line: start, fields });
    const end = eol(i);
    i += end;
    if (end) {
      line++;
    }
  }
  return records;
}

/** Quotes a field when it holds a comma, a quote or a line break (RFC 4180 §2.6). */
function field(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

/** Formats records as RFC 4180 CSV: comma-separated, CRLF after every record (also the last). */
export function formatCsv(rows: Iterable<readonly string[]>): string {
  let out = '';
  for (const row of rows) {
    out += `${row.map(field).join(',')}\r\n`;
  }
  return out;
}
