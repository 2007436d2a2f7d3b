//! Single-byte character sets (ISO 8859 parts, TIS 620, JIS X 0201): byte tables, decoding and encoding back.
import { below, type Charset } from './charset.ts';

export const latin1: Charset = {
  terms: ['ISO_IR 100'],
  id: 'ISO_IR 100',
  decode: (b) => b.toString('latin1'),
  encode: (t) => (below(t, 0xff) ? Buffer.from(t, 'latin1') : null),
  haystack: (b) => b.toString('latin1'),
};

/** WHATWG labels of the single-byte sets (ISO-8859-1 is decoded by Buffer: WHATWG maps it to windows-1252). */
export const SINGLE_BYTE: Readonly<Record<number, string>> = {
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
export function tableOf(label: string): string {
  let t = tables.get(label);
  if (t === undefined) {
    t = byteTable(label);
    tables.set(label, t);
  }
  return t;
}

export function singleByte(term: string, label: string): Charset {
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

/** "ISO_IR 100", "ISO-IR 100", "ISO_IR100", "ISO 2022 IR 100" → 100; null when the term has no IR number. */
export function irNumber(term: string): number | null {
  const m = /^ISO[ _-]?(?:2022[ _-]?)?IR[ _-]?(\d+)$/.exec(term);
  return m ? Number(m[1]) : null;
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
