//! Specific Character Set (0008,0005): text values decoded to Unicode, and encoded back where the set allows.
// Identifying values are compared as text, not bytes: "Müller" in UTF-8 and "MÜLLER" in Latin-1 are
// the same name, and a kanji name in ISO 2022 IR 87 is a run of escape-delimited byte pairs. PS3.5
// §6.1 and PS3.3 C.12.1.1.2 define the terms; decoding follows them (single-byte sets, UTF-8,
// GB18030/GBK, and ISO 2022 code extensions with G0/G1 designations). Unknown terms decode as
// Latin-1, which keeps every byte and loses nothing an ASCII needle could match.
import { isAscii, type Charset } from './charset.ts';
import { iso2022 } from './charset-iso2022.ts';
import { irNumber, latin1, SINGLE_BYTE, singleByte } from './charset-single-byte.ts';

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
