import { describe, expect, it } from 'vitest';
import {
  createMultipartParser,
  MAX_HEADER_BYTES,
  MultipartError,
  type MultipartEvent,
} from '../../../../src/sources/stow/multipart.ts';

interface Part {
  headers: Record<string, string>;
  body: Buffer;
  ended: boolean;
}

/** Feeds `chunks` and collects the parts; `end` calls parser.end(). */
function parse(boundary: string, chunks: readonly Buffer[], end = true): Part[] {
  const p = createMultipartParser(boundary);
  const parts: Part[] = [];
  const apply = (e: MultipartEvent): void => {
    if (e.kind === 'part') {
      parts.push({ headers: Object.fromEntries(e.headers), body: Buffer.alloc(0), ended: false });
    } else if (e.kind === 'data') {
      const cur = parts.at(-1);
      if (!cur || cur.ended) {
        throw new Error('data outside a part');
      }
      cur.body = Buffer.concat([cur.body, e.data]);
    } else {
      const cur = parts.at(-1);
      if (!cur) {
        throw new Error('end outside a part');
      }
      cur.ended = true;
    }
  };
  for (const c of chunks) {
    p.push(c).forEach(apply);
  }
  if (end) {
    p.end();
  }
  return parts;
}

/** Splits `buf` into pieces of `n` bytes. */
const pieces = (buf: Buffer, n: number): Buffer[] =>
  Array.from({ length: Math.ceil(buf.length / n) }, (_, i) => buf.subarray(i * n, (i + 1) * n));

const body = (
  b: string,
  parts: readonly { headers: string; data: Buffer }[],
  o: { preamble?: string; epilogue?: string; leadingCrlf?: boolean } = {},
): Buffer =>
  Buffer.concat([
    Buffer.from(`${o.preamble ?? ''}${o.preamble !== undefined || o.leadingCrlf ? '\r\n' : ''}`, 'latin1'),
    ...parts.flatMap((p, i) => [Buffer.from(`${i ? '\r\n' : ''}--${b}\r\n${p.headers}\r\n`, 'latin1'), p.data]),
    Buffer.from(`\r\n--${b}--${o.epilogue ?? ''}`, 'latin1'),
  ]);

describe('createMultipartParser', () => {
  const binary = Buffer.from(Array.from({ length: 3000 }, (_, i) => (i * 7919) % 256));
  // Data holding near-misses of the delimiter: CRLF, "--", and the boundary without its dashes.
  const tricky = Buffer.from('a\r\n-\r\n--\r\n--xyz\r\n--xy\r\n--boundar--boundary-not\r--boundary', 'latin1');

  it('returns each part with its headers, whatever the chunk size (delimiters split across chunks)', () => {
    const b = 'boundary';
    const raw = body(b, [
      { headers: 'Content-Type: application/dicom\r\nContent-Length: 3000\r\n', data: binary },
      {
        headers: 'content-type: application/dicom; transfer-syntax=1.2.840.10008.1.2.1\r\n',
        data: tricky.subarray(0, 40),
      },
      { headers: 'Content-Type: application/dicom\r\n', data: Buffer.alloc(0) },
    ]);
    for (const n of [1, 2, 3, 5, 7, 13, 64, 1000, raw.length]) {
      const parts = parse(b, pieces(raw, n));
      expect(parts.map((p) => p.headers['content-type'])).toEqual([
        'application/dicom',
        'application/dicom; transfer-syntax=1.2.840.10008.1.2.1',
        'application/dicom',
      ]);
      expect(parts[0]?.body.equals(binary), `chunk ${String(n)}`).toBe(true);
      expect(parts[1]?.body.equals(tricky.subarray(0, 40)), `chunk ${String(n)}`).toBe(true);
      expect(parts[2]?.body.length).toBe(0);
      expect(parts.every((p) => p.ended)).toBe(true);
    }
  });

  it('keeps data that only looks like a delimiter (no CRLF before it, or a longer boundary)', () => {
    const b = 'boundary';
    const raw = body(b, [{ headers: 'Content-Type: application/dicom\r\n', data: tricky }]);
    for (const n of [1, 4, 9, raw.length]) {
      const [part] = parse(b, pieces(raw, n));
      expect(part?.body.toString('latin1')).toBe(tricky.toString('latin1'));
    }
  });

  it('ignores a preamble and an epilogue, and accepts a body starting right at the first boundary', () => {
    const b = 'Ab-1_2.3=';
    const data = Buffer.from('DICM-ish data');
    expect(
      parse(b, [
        body(b, [{ headers: 'X: y\r\n', data }], {
          preamble: 'This is a preamble.\r\n--not the boundary',
          epilogue: '\r\nthe epilogue --Ab-1_2.3=\r\n',
        }),
      ])[0]?.body.toString(),
    ).toBe('DICM-ish data');
    expect(parse(b, [body(b, [{ headers: 'X: y\r\n', data }])])).toHaveLength(1);
    expect(parse(b, [body(b, [{ headers: 'X: y\r\n', data }], { leadingCrlf: true })])).toHaveLength(1);
  });

  it('reads part headers case-insensitively, with folded lines and transport padding after the boundary', () => {
    const raw = Buffer.from(
      '--b   \t\r\nCONTENT-TYPE: application/dicom;\r\n  transfer-syntax=1.2\r\nX-Empty:\r\n\r\nxyz\r\n--b--',
      'latin1',
    );
    const [part] = parse('b', pieces(raw, 3));
    expect(part?.headers).toEqual({ 'content-type': 'application/dicom; transfer-syntax=1.2', 'x-empty': '' });
    expect(part?.body.toString()).toBe('xyz');
  });

  it('takes a part without headers', () => {
    const [part] = parse('b', [Buffer.from('--b\r\n\r\nabc\r\n--b--\r\n')]);
    expect(part?.headers).toEqual({});
    expect(part?.body.toString()).toBe('abc');
  });

  it('fails a body whose closing boundary never comes, saying the open part is cut short', () => {
    const raw = Buffer.from('--b\r\nContent-Type: application/dicom\r\n\r\nhalf a dataset', 'latin1');
    const p = createMultipartParser('b');
    const events = p.push(raw);
    expect(events.map((e) => e.kind)).toEqual(['part', 'data']);
    expect(p.inPart).toBe(true);
    expect(() => {
      p.end();
    }).toThrow(/ended inside a part/);
    expect(() => parse('b', [Buffer.from('--b\r\nA: b\r\n\r\nx\r\n--b\r\n')])).toThrow(MultipartError);
    expect(() => parse('b', [Buffer.from('--b\r\nA: b\r\n\r\nx\r\n--b')])).toThrow(/before its closing boundary/);
    expect(() => parse('b', [Buffer.from('no boundary at all')])).toThrow(/no boundary/);
  });

  it('refuses malformed framing: no CRLF after the boundary, header lines without a name, oversized headers', () => {
    expect(() => parse('b', [Buffer.from('--bX\r\n\r\nx\r\n--b--')])).toThrow(/does not end with CRLF/);
    expect(() => parse('b', [Buffer.from('--b\r\nno colon here\r\n\r\nx\r\n--b--')])).toThrow(/no name/);
    const big = Buffer.from(`--b\r\nX: ${'a'.repeat(MAX_HEADER_BYTES)}`, 'latin1');
    expect(() => parse('b', pieces(big, 1000), false)).toThrow(/exceed/);
    expect(() => createMultipartParser('')).toThrow(MultipartError);
    expect(() => createMultipartParser('x'.repeat(201))).toThrow(MultipartError);
    expect(() => createMultipartParser('bad\r\nboundary')).toThrow(MultipartError);
    // Longer than RFC 2046's 70, as Orthanc's DICOMweb plugin sends (two UUIDs).
    expect(() => createMultipartParser(`${'a'.repeat(36)}-${'b'.repeat(36)}`)).not.toThrow();
    expect(() => createMultipartParser('ends in space ')).toThrow(MultipartError);
  });

  it('holds back no more than the delimiter length between chunks (data events are views, emitted at once)', () => {
    const b = 'boundary-0123456789';
    const p = createMultipartParser(b);
    p.push(Buffer.from(`--${b}\r\nContent-Type: application/dicom\r\n\r\n`));
    let emitted = 0;
    let pushed = 0;
    for (let i = 0; i < 1000; i++) {
      const chunk = Buffer.alloc(65_536, i % 251);
      pushed += chunk.length;
      for (const e of p.push(chunk)) {
        if (e.kind === 'data') {
          emitted += e.data.length;
        }
      }
      expect(pushed - emitted).toBeLessThan(b.length + 4);
    }
    const last = p.push(Buffer.from(`\r\n--${b}--`));
    for (const e of last) {
      if (e.kind === 'data') {
        emitted += e.data.length;
      }
    }
    expect(emitted).toBe(pushed);
    expect(last.at(-1)?.kind).toBe('end');
    expect(p.done).toBe(true);
  });

  it('ignores whatever follows the closing boundary', () => {
    const p = createMultipartParser('b');
    expect(p.push(Buffer.from('--b\r\n\r\nx\r\n--b--')).map((e) => e.kind)).toEqual(['part', 'data', 'end']);
    expect(p.push(Buffer.from('\r\n--b\r\n\r\nmore'))).toEqual([]);
    p.end();
  });
});
