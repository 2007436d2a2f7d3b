// The CSV reader and writer behind `pseudonyms import|export`: RFC 4180 plus what Excel saves.
import { describe, expect, it } from 'vitest';
import { CsvError, formatCsv, parseCsv, sniffDelimiter } from '../../src/csv.ts';

const fields = (text: string): string[][] => parseCsv(text).map((r) => r.fields);

describe('parseCsv', () => {
  it('reads plain records with LF, CRLF or bare CR line ends', () => {
    const expected = [
      ['a', 'b'],
      ['1', '2'],
    ];
    expect(fields('a,b\n1,2\n')).toEqual(expected);
    expect(fields('a,b\r\n1,2\r\n')).toEqual(expected);
    expect(fields('a,b\r1,2')).toEqual(expected);
  });

  it('reads quoted fields with commas, doubled quotes and line breaks', () => {
    expect(fields('"a,b","say ""hi""","line1\r\nline2",plain\r\n')).toEqual([
      ['a,b', 'say "hi"', 'line1\r\nline2', 'plain'],
    ]);
  });

  it('keeps empty fields, including a trailing one, and skips empty lines', () => {
    expect(fields('a,,c,\n\n,,\n')).toEqual([
      ['a', '', 'c', ''],
      ['', '', ''],
    ]);
    expect(fields('""\n')).toEqual([['']]);
  });

  it('tolerates a UTF-8 byte order mark (Excel "CSV UTF-8")', () => {
    expect(fields('\uFEFFpatient_id,subject\r\nX,Y\r\n')).toEqual([
      ['patient_id', 'subject'],
      ['X', 'Y'],
    ]);
  });

  it('numbers records by the physical line they start on', () => {
    const records = parseCsv('h1,h2\n\n"multi\nline",x\nlast,y');
    expect(records.map((r) => r.line)).toEqual([1, 3, 5]);
  });

  it('keeps a stray quote inside an unquoted field as it is', () => {
    expect(fields('ab"c,d\n')).toEqual([['ab"c', 'd']]);
  });

  it('names the line of an unterminated quote or of text after a closing quote', () => {
    expect(() => parseCsv('a,b\n"open,x\ny\n')).toThrow(CsvError);
    expect(() => parseCsv('a,b\n"open,x\ny\n')).toThrow(/^line 2: a quoted field is not closed/);
    expect(() => parseCsv('a\n"x"y,z\n')).toThrow(/^line 2: unexpected text after a closing quote/);
  });

  it('reads semicolon- and tab-separated files (Excel in comma-decimal locales)', () => {
    expect(fields('patient_id;subject\r\n"1;2";S\r\n')).toEqual([
      ['patient_id', 'subject'],
      ['1;2', 'S'],
    ]);
    expect(fields('a\tb\n1\t2\n')).toEqual([
      ['a', 'b'],
      ['1', '2'],
    ]);
  });
});

describe('sniffDelimiter', () => {
  it('prefers a comma, then a semicolon, then a tab, looking at the header line only', () => {
    expect(sniffDelimiter('a,b;c\n')).toBe(',');
    expect(sniffDelimiter('a;b\n1,2\n')).toBe(';');
    expect(sniffDelimiter('"x,y";b\n')).toBe(';');
    expect(sniffDelimiter('a\tb')).toBe('\t');
    expect(sniffDelimiter('single')).toBe(',');
  });
});

describe('formatCsv', () => {
  it('writes CRLF records and quotes only fields that need it', () => {
    expect(
      formatCsv([
        ['a', 'b,c'],
        ['say "hi"', 'x\ny'],
        ['', 'z'],
      ]),
    ).toBe('a,"b,c"\r\n"say ""hi""","x\ny"\r\n,z\r\n');
  });

  it('round-trips through the parser', () => {
    const rows = [
      ['id_old', 'id_new'],
      ['1.2.3', '2.25.1'],
      ['a,"b"\r\nc', ' d '],
    ];
    expect(fields(formatCsv(rows))).toEqual(rows);
  });

  it('writes nothing for no rows', () => {
    expect(formatCsv([])).toBe('');
  });
});
