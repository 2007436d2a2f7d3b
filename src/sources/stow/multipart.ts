//! A streaming multipart body parser (RFC 2046 §5.1): bytes in, part events out, never a whole part in memory.
// A STOW-RS request carries a whole study in one body; parts are handed on chunk by chunk as they
// arrive. Data events are views of the chunk pushed (no copy); only the few bytes that might begin
// a delimiter split across two chunks are held back. Memory is bounded by one chunk plus the
// delimiter and the part headers (MAX_HEADER_BYTES).

/** The largest header section of one part. */
export const MAX_HEADER_BYTES = 16 * 1024;
/**
 * RFC 2046 §5.1.1 characters, not ending in a space. The RFC allows 70 of them; real senders use
 * more (Orthanc's DICOMweb plugin: two UUIDs, 73), so up to 200 are taken.
 */
const BOUNDARY = /^[0-9A-Za-z'()+_,\-./:=? ]{0,199}[0-9A-Za-z'()+_,\-./:=?]$/;

export class MultipartError extends Error {
  override readonly name = 'MultipartError';
}

export type MultipartEvent =
  /** A part begins; header names are lower-cased (the last of a repeated header wins). */
  | { readonly kind: 'part'; readonly headers: ReadonlyMap<string, string> }
  /** Bytes of the current part's body, in order. */
  | { readonly kind: 'data'; readonly data: Buffer }
  /** The current part's body is complete (its delimiter was seen). */
  | { readonly kind: 'end' };

export interface MultipartParser {
  /** Parses the next chunk of the body; throws MultipartError when it is malformed. */
  push(chunk: Buffer): MultipartEvent[];
  /** The body has ended; throws MultipartError when the close delimiter never came (the open part is cut short). */
  end(): void;
  /** True once the close delimiter has been seen (what follows is epilogue, ignored). */
  readonly done: boolean;
  /** True while a part's body is being read (a part event without its end event yet). */
  readonly inPart: boolean;
}

export function isValidBoundary(b: string): boolean {
  return BOUNDARY.test(b);
}

type State = 'preamble' | 'delimiter' | 'headers' | 'body' | 'epilogue';

const CRLF = Buffer.from('\r\n', 'latin1');
const HEADER_END = Buffer.from('\r\n\r\n', 'latin1');

/** Parses one part's header section (without its final empty line). */
function parseHeaders(text: string): Map<string, string> {
  const headers = new Map<string, string>();
  // Obsolete line folding (RFC 5322 §2.2.3): a line starting with white space continues the one before.
  const lines: string[] = [];
  for (const line of text.split('\r\n')) {
    const last = lines.length - 1;
    if (/^[ \t]/.test(line) && last >= 0) {
      lines[last] = `${lines[last] ?? ''} ${line.trim()}`;
    } else if (line !== '') {
      lines.push(line);
    }
  }
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new MultipartError(`A part header line has no name: "${line.slice(0, 40)}".`);
    }
    headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  return headers;
}

/**
 * Where a suffix of `buf` (from `from` on) starts that is a prefix of `needle`, so the rest of the
 * needle may come in the next chunk; `buf.length` when none.
 */
function partialMatchAt(buf: Buffer, needle: Buffer, from: number): number {
  for (let p = Math.max(from, buf.length - needle.length + 1); p < buf.length; p++) {
    if (buf.compare(needle, 0, buf.length - p, p) === 0) {
      return p;
    }
  }
  return buf.length;
}

export function createMultipartParser(boundary: string): MultipartParser {
  if (!isValidBoundary(boundary)) {
    throw new MultipartError('The boundary parameter is not a valid RFC 2046 boundary.');
  }
  const delimiter = Buffer.from(`\r\n--${boundary}`, 'latin1');
  let state: State = 'preamble';
  // The first delimiter may open the body without a CRLF before it: the body is read as if one preceded it.
  let carry: Buffer = Buffer.from(CRLF);
  let headerBytes: Buffer[] = [];
  let headerLength = 0;
  // A function, not an inline test: the state changes inside the helpers the loop calls.
  const isDone = (): boolean => state === 'epilogue';

  /** After a delimiter: `--` closes the body, else transport padding and CRLF open a part. Returns where it ends, or -1 for more input. */
  function afterDelimiter(buf: Buffer, at: number): number {
    if (buf.length - at < 2) {
      return -1;
    }
    if (buf[at] === 0x2d && buf[at + 1] === 0x2d) {
      state = 'epilogue';
      return buf.length;
    }
    let p = at;
    while (p < buf.length && (buf[p] === 0x20 || buf[p] === 0x09)) {
      p++;
    }
    if (p - at > 256) {
      throw new MultipartError('Too much white space after a boundary.');
    }
    if (buf.length - p < 2) {
      return -1;
    }
    if (buf[p] !== 0x0d || buf[p + 1] !== 0x0a) {
      throw new MultipartError('A boundary line does not end with CRLF.');
    }
    state = 'headers';
    headerBytes = [];
    headerLength = 0;
    return p + 2;
  }

  function headers(buf: Buffer, at: number, out: MultipartEvent[]): number {
    // The CRLF ending the boundary line counts as the start of the blank line when there are no headers.
    const seen = Buffer.concat([CRLF, ...headerBytes, buf.subarray(at)]);
    const end = seen.indexOf(HEADER_END);
    if (end < 0) {
      if (seen.length - CRLF.length > MAX_HEADER_BYTES) {
        throw new MultipartError(`A part's headers exceed ${String(MAX_HEADER_BYTES)} bytes.`);
      }
      headerBytes.push(Buffer.from(buf.subarray(at)));
      headerLength += buf.length - at;
      return buf.length;
    }
    if (end - CRLF.length > MAX_HEADER_BYTES) {
      throw new MultipartError(`A part's headers exceed ${String(MAX_HEADER_BYTES)} bytes.`);
    }
    out.push({ kind: 'part', headers: parseHeaders(seen.toString('latin1', CRLF.length, Math.max(CRLF.length, end))) });
    state = 'body';
    // Bytes of this chunk consumed: the header section past what earlier chunks held, and the blank line.
    return at + (end + HEADER_END.length - CRLF.length - headerLength);
  }

  /** Searches for the delimiter; in the body, emits what precedes it. Returns where to continue. */
  function scan(buf: Buffer, at: number, out: MultipartEvent[]): number {
    const idx = buf.indexOf(delimiter, at);
    if (idx < 0) {
      const keep = partialMatchAt(buf, delimiter, at);
      if (state === 'body' && keep > at) {
        out.push({ kind: 'data', data: buf.subarray(at, keep) });
      }
      carry = Buffer.from(buf.subarray(keep));
      return buf.length;
    }
    if (state === 'body') {
      if (idx > at) {
        out.push({ kind: 'data', data: buf.subarray(at, idx) });
      }
      out.push({ kind: 'end' });
    }
    state = 'delimiter';
    return idx + delimiter.length;
  }

  return {
    push(chunk) {
      const out: MultipartEvent[] = [];
      if (state === 'epilogue' || chunk.length === 0) {
        return out;
      }
      const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
      carry = Buffer.alloc(0);
      let at = 0;
      while (at < buf.length && !isDone()) {
        if (state === 'preamble' || state === 'body') {
          at = scan(buf, at, out);
        } else if (state === 'delimiter') {
          const next = afterDelimiter(buf, at);
          if (next < 0) {
            carry = Buffer.from(buf.subarray(at));
            break;
          }
          at = next;
        } else {
          at = headers(buf, at, out);
        }
      }
      return out;
    },
    end() {
      if (state === 'epilogue') {
        return;
      }
      if (state === 'preamble') {
        throw new MultipartError('The body holds no boundary delimiter.');
      }
      throw new MultipartError(
        state === 'body'
          ? 'The body ended inside a part, before its closing boundary.'
          : 'The body ended before its closing boundary.',
      );
    },
    get done() {
      return state === 'epilogue';
    },
    get inPart() {
      return state === 'body';
    },
  };
}
