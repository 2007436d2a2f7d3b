//! ISO 2022 code extensions (PS3.5 §6.1.2.5): escape sequences switching G0 and G1 within a value, as Japanese, Korean and Chinese datasets use them.
import { isAscii, type Charset } from './charset.ts';
import { irNumber, SINGLE_BYTE, tableOf } from './charset-single-byte.ts';

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
export function iso2022(terms: readonly string[]): Charset {
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
