//! Specific Character Set (0008,0005): text values decoded to Unicode, and encoded back where the set allows.
// Identifying values are compared as text, not bytes: "Müller" in UTF-8 and "MÜLLER" in Latin-1 are
// the same name, and a kanji name in ISO 2022 IR 87 is a run of escape-delimited byte pairs. PS3.5
// §6.1 and PS3.3 C.12.1.1.2 define the terms; decoding follows them (single-byte sets, UTF-8,
// GB18030/GBK, and ISO 2022 code extensions with G0/G1 designations). Unknown terms decode as
// Latin-1, which keeps every byte and loses nothing an ASCII needle could match.

/** A dataset's character set as the anonymiser uses it. */
export interface Charset {
  /** The defined terms it was built from (for messages and tests). */
  readonly terms: readonly string[];
  /** The terms as one string: a cheap key for caches of decoded values. */
  readonly id: string;
  /** Decodes the bytes of one character-string value (PN, LO, SH, ST, LT, UT, UC). */
  decode(bytes: Buffer): string;
  /** Encodes text for a value, or null when this set cannot carry it (callers then write ASCII). */
  encode(text: string): Buffer | null;
  /**
   * Text that contains, as a substring, the decoding of every value found in `bytes` (a whole
   * header): for a prefilter that must never miss a value. Null when no such text can be made
   * cheaply (stateful ISO 2022 and double-byte sets): every needle must then be searched per value.
   */
  haystack(bytes: Buffer): string | null;
}

/** Every UTF-16 unit of `t` is at most `max`. */
function below(t: string, max: number): boolean {
  for (let i = 0; i < t.length; i++) {
    if (t.charCodeAt(i) > max) {
      return false;
    }
  }
  return true;
}
const isAscii = (t: string): boolean => below(t, 0x7f);

const latin1: Charset = {
  terms: ['ISO_IR 100'],
  id: 'ISO_IR 100',
  decode: (b) => b.toString('latin1'),
  encode: (t) => (below(t, 0xff) ? Buffer.from(t, 'latin1') : null),
  haystack: (b) => b.toString('latin1'),
};

const utf8: Charset = {
  terms: ['ISO_IR 192'],
  id: 'ISO_IR 192',
  decode: (b) => b.toString('utf8'),
  encode: (t) => Buffer.from(t, 'utf8'),
  // A valid UTF-8 value starts with a byte that is no continuation byte, and a decoder meeting one
  // inside an incomplete sequence emits U+FFFD and starts afresh with it: every valid value decodes
  // inside the whole header as it does alone (binary bytes around it only add U+FFFD).
  haystack: (b) => b.toString('utf8'),
};

/**
 * The default repertoire (no or empty Specific Character Set). Many senders put Latin-1 or UTF-8
 * bytes there anyway; a value that is valid UTF-8 is read as UTF-8, anything else as Latin-1.
 */
const defaultRepertoire: Charset = {
  terms: [''],
  id: '',
  decode(b) {
    for (const byte of b) {
      if (byte >= 0x80) {
        const s = b.toString('utf8');
        return s.includes('\ufffd') ? b.toString('latin1') : s;
      }
    }
    return b.toString('latin1');
  },
  encode: (t) => (isAscii(t) ? Buffer.from(t, 'latin1') : null),
  haystack: (b) => `${b.toString('latin1')}\n${b.toString('utf8')}`,
};

/** WHATWG labels of the single-byte sets (ISO-8859-1 is decoded by Buffer: WHATWG maps it to windows-1252). */
const SINGLE_BYTE: Readonly<Record<number, string>> = {
  101: 'iso-8859-2',
  109: 'iso-8859-3',
  110: 'iso-8859-4',
  144: 'iso-8859-5',
  127: 'iso-8859-6',
  126: 'iso-8859-7',
  138: 'iso-8859-8',
  148: 'iso-8859-9',
  203: 'iso-8859-15',
  166: 'windows-874',
};

/** A single-byte set as a 256-character table: byte b decodes to table[b]. */
function byteTable(label: string): string {
  if (label === 'latin1') {
    return Buffer.from(Array.from({ length: 256 }, (_, i) => i)).toString('latin1');
  }
  const all = new TextDecoder(label).decode(Uint8Array.from({ length: 256 }, (_, i) => i));
  // Every WHATWG single-byte decoder gives one UTF-16 unit per byte (U+FFFD where unmapped).
  if (all.length !== 256) {
    throw new Error(`Character set ${label} is not single-byte.`);
  }
  return all;
}

const tables = new Map<string, string>();
function tableOf(label: string): string {
  let t = tables.get(label);
  if (t === undefined) {
    t = byteTable(label);
    tables.set(label, t);
  }
  return t;
}

function singleByte(term: string, label: string): Charset {
  const table = tableOf(label);
  const inverse = new Map<string, number>();
  for (let i = 0; i < 256; i++) {
    const c = table[i] ?? '\ufffd';
    if (c !== '\ufffd' && !inverse.has(c)) {
      inverse.set(c, i);
    }
  }
  const decode = (b: Buffer): string => {
    let s = '';
    for (const byte of b) {
      s += table[byte] ?? '\ufffd';
    }
    return s;
  };
  return {
    terms: [term],
    id: term,
    decode,
    haystack: decode,
    encode(t) {
      const out = Buffer.alloc(t.length);
      for (let i = 0; i < t.length; i++) {
        const b = inverse.get(t[i] ?? '');
        if (b === undefined) {
          return null;
        }
        out[i] = b;
      }
      return out;
    },
  };
}

function multiByte(term: string, label: string): Charset {
  const decoder = new TextDecoder(label);
  return {
    terms: [term],
    id: term,
    decode: (b) => decoder.decode(b),
    encode: (t) => (isAscii(t) ? Buffer.from(t, 'latin1') : null),
    haystack: () => null,
  };
}

/** "ISO_IR 100", "ISO-IR 100", "ISO_IR100", "ISO 2022 IR 100" → 100; null when the term has no IR number. */
function irNumber(term: string): number | null {
  const m = /^ISO[ _-]?(?:2022[ _-]?)?IR[ _-]?(\d+)$/.exec(term);
  return m ? Number(m[1]) : null;
}

/** G1 designations: a single-byte set's upper half, JIS X 0201 katakana, or a 94×94 double-byte set. */
type G1 =
  { readonly kind: 'single'; readonly table: string } | { readonly kind: 'double'; readonly label: string } | null;
type G0 = 'ascii' | 'jisx0208' | 'jisx0212';

const ESC = 0x1b;

/** The G1 set designated by an ISO 2022 term used as value 1 (or by an escape's final byte). */
function g1OfIr(ir: number): G1 {
  if (ir === 100) {
    return { kind: 'single', table: tableOf('latin1') };
  }
  if (ir === 13) {
    return { kind: 'single', table: tableOf('shift_jis-katakana') };
  }
  if (ir === 149) {
    return { kind: 'double', label: 'euc-kr' };
  }
  if (ir === 58) {
    return { kind: 'double', label: 'gb18030' };
  }
  const label = SINGLE_BYTE[ir];
  return label ? { kind: 'single', table: tableOf(label) } : null;
}

/** Final byte of "ESC - F" (a 96-character G1 set) → its IR number. */
const G1_FINALS: Readonly<Record<string, number>> = {
  A: 100,
  B: 101,
  C: 109,
  D: 110,
  L: 144,
  G: 127,
  F: 126,
  H: 138,
  M: 148,
  b: 203,
  T: 166,
};

/**
 * ISO 2022 code extensions (PS3.5 §6.1.2.5): escape sequences switch G0 between ASCII (or JIS X 0201
 * romaji) and JIS X 0208/0212, and G1 between the upper halves of single-byte sets and the KS X 1001
 * and GB 2312 double-byte sets. Every value starts in the state set by value 1 of the attribute.
 */
function iso2022(terms: readonly string[]): Charset {
  const first = irNumber(terms[0] ?? '');
  const initialG1: G1 = first === null || first === 6 ? null : g1OfIr(first);
  const euc = new TextDecoder('euc-jp');
  const doubles = new Map<string, { decode(b: Uint8Array): string }>();
  const doubleDecoder = (label: string): { decode(b: Uint8Array): string } => {
    let d = doubles.get(label);
    if (!d) {
      d = new TextDecoder(label);
      doubles.set(label, d);
    }
    return d;
  };
  const decode = (b: Buffer): string => {
    let g0: G0 = 'ascii';
    let g1: G1 = initialG1;
    let out = '';
    let i = 0;
    while (i < b.length) {
      const byte = b[i] ?? 0;
      if (byte === ESC) {
        const seq = b.toString('latin1', i + 1, i + 4);
        if (seq.startsWith('(B') || seq.startsWith('(J')) {
          g0 = 'ascii';
          i += 3;
          continue;
        }
        if (seq.startsWith('$B') || seq.startsWith('$@')) {
          g0 = 'jisx0208';
          i += 3;
          continue;
        }
        if (seq === '$(D') {
          g0 = 'jisx0212';
          i += 4;
          continue;
        }
        if (seq.startsWith(')I')) {
          g1 = g1OfIr(13);
          i += 3;
          continue;
        }
        if (seq === '$)C') {
          g1 = g1OfIr(149);
          i += 4;
          continue;
        }
        if (seq === '$)A') {
          g1 = g1OfIr(58);
          i += 4;
          continue;
        }
        const ir = seq[0] === '-' ? G1_FINALS[seq[1] ?? ''] : undefined;
        if (ir !== undefined) {
          g1 = g1OfIr(ir);
          i += 3;
          continue;
        }
        // An unknown escape: skip ESC, its intermediate bytes (0x20–0x2F) and its final byte.
        let j = i + 1;
        while (j < b.length && (b[j] ?? 0) >= 0x20 && (b[j] ?? 0) <= 0x2f) {
          j++;
        }
        i = j + 1;
        continue;
      }
      if (byte < 0x80) {
        if (g0 === 'ascii' || byte <= 0x20 || byte === 0x7f) {
          out += String.fromCharCode(byte);
          i++;
          continue;
        }
        // JIS X 0208 / 0212 in G0: byte pairs 0x21–0x7E, decoded as EUC-JP (high bit set).
        const pair = [byte | 0x80, (b[i + 1] ?? 0) | 0x80];
        out += euc.decode(Uint8Array.from(g0 === 'jisx0212' ? [0x8f, ...pair] : pair));
        i += 2;
        continue;
      }
      if (g1?.kind === 'single') {
        out += g1.table[byte] ?? '\ufffd';
        i++;
      } else if (g1?.kind === 'double') {
        out += doubleDecoder(g1.label).decode(Uint8Array.from([byte, b[i + 1] ?? 0]));
        i += 2;
      } else {
        out += String.fromCharCode(byte);
        i++;
      }
    }
    return out;
  };
  return {
    terms,
    id: terms.join('\\'),
    decode,
    haystack: () => null,
    // ASCII without ESC stays in the initial G0 set of every value: the only text written as is.
    encode: (t) => (isAscii(t) && !t.includes('\x1b') ? Buffer.from(t, 'latin1') : null),
  };
}

// JIS X 0201 katakana (ISO_IR 13's upper half) is Shift JIS's single-byte range 0xA1–0xDF.
tables.set(
  'shift_jis-katakana',
  (() => {
    const d = new TextDecoder('shift_jis');
    let s = '';
    for (let i = 0; i < 256; i++) {
      s += i >= 0xa1 && i <= 0xdf ? d.decode(Uint8Array.of(i)) : String.fromCharCode(i);
    }
    return s;
  })(),
);

const cache = new Map<string, Charset>();

/**
 * The character set named by the values of (0008,0005) (trimmed; an empty value 1 is the default
 * repertoire). Cached by the terms: a series repeats the same few.
 */
export function charsetOf(terms: readonly string[]): Charset {
  const key = terms.join('\\');
  let cs = cache.get(key);
  if (!cs) {
    cs = build(terms.map((t) => t.trim().toUpperCase()));
    if (cache.size >= 64) {
      cache.clear();
    }
    cache.set(key, cs);
  }
  return cs;
}

function build(terms: readonly string[]): Charset {
  if (terms.length === 0 || terms.every((t) => t === '' || t === 'ISO_IR 6' || t === 'ISO 2022 IR 6')) {
    return defaultRepertoire;
  }
  if (terms.some((t) => t.startsWith('ISO 2022'))) {
    return iso2022(terms);
  }
  const term = terms[0] ?? '';
  if (term === 'ISO_IR 192' || term === 'UTF-8' || term === 'UTF8') {
    return utf8;
  }
  if (term === 'GB18030') {
    return multiByte(term, 'gb18030');
  }
  if (term === 'GBK') {
    return multiByte(term, 'gbk');
  }
  const ir = irNumber(term);
  if (ir === 100) {
    return latin1;
  }
  if (ir === 13) {
    return singleByte(term, 'shift_jis-katakana');
  }
  const label = ir === null ? undefined : SINGLE_BYTE[ir];
  if (label) {
    return singleByte(term, label);
  }
  // An unknown term: Latin-1 keeps every byte, so ASCII needles are still found.
  return { ...latin1, terms: [term], id: term };
}

/** The default repertoire's character set (no Specific Character Set in the dataset). */
export const DEFAULT_CHARSET: Charset = defaultRepertoire;
