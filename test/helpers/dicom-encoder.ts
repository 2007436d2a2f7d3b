//! A small DICOM data-element encoder for test fixtures: explicit/implicit VR, little/big endian, SQ.

/** The three uncompressed transfer syntaxes the factory can write. */
export const TransferSyntax = {
  ImplicitVRLittleEndian: '1.2.840.10008.1.2',
  ExplicitVRLittleEndian: '1.2.840.10008.1.2.1',
  ExplicitVRBigEndian: '1.2.840.10008.1.2.2',
} as const;
export type TransferSyntaxUid = (typeof TransferSyntax)[keyof typeof TransferSyntax];

type StringVr =
  'AE' | 'AS' | 'CS' | 'DA' | 'DS' | 'DT' | 'IS' | 'LO' | 'LT' | 'PN' | 'SH' | 'ST' | 'TM' | 'UC' | 'UI' | 'UR' | 'UT';
type NumberVr = 'US' | 'UL' | 'SS' | 'SL' | 'FL' | 'FD';
/** One data element. `tag` is `(group << 16) | element`, e.g. `0x00100010` for PatientName. */
export type Element =
  /** Strings are written as UTF-8; a Uint8Array is written as it is (another character set, or bad bytes). */
  | { readonly tag: number; readonly vr: StringVr; readonly value: string | readonly string[] | Uint8Array }
  | { readonly tag: number; readonly vr: NumberVr; readonly value: number | readonly number[] }
  /** OW values are given as little-endian 16-bit words; they are byte-swapped for big endian. */
  | { readonly tag: number; readonly vr: 'OB' | 'OW' | 'UN'; readonly value: Uint8Array }
  | {
      readonly tag: number;
      readonly vr: 'SQ';
      readonly items: readonly (readonly Element[])[];
      /** Encode the sequence and its items with undefined length and delimiters. Default false. */
      readonly undefinedLength?: boolean;
    };

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length (PS3.5 §7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);
const UNDEFINED_LENGTH = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_DELIMITATION = 0xfffee00d;
const SEQUENCE_DELIMITATION = 0xfffee0dd;

interface Syntax {
  readonly explicit: boolean;
  readonly littleEndian: boolean;
}

/** Encoding rules for a transfer syntax UID. */
export function syntaxOf(ts: TransferSyntaxUid): Syntax {
  return {
    explicit: ts !== TransferSyntax.ImplicitVRLittleEndian,
    littleEndian: ts !== TransferSyntax.ExplicitVRBigEndian,
  };
}

function u16(n: number, le: boolean): Buffer {
  const b = Buffer.alloc(2);
  if (le) {
    b.writeUInt16LE(n);
  } else {
    b.writeUInt16BE(n);
  }
  return b;
}

function u32(n: number, le: boolean): Buffer {
  const b = Buffer.alloc(4);
  if (le) {
    b.writeUInt32LE(n);
  } else {
    b.writeUInt32BE(n);
  }
  return b;
}

function tagBytes(tag: number, le: boolean): Buffer {
  return Buffer.concat([u16(tag >>> 16, le), u16(tag & 0xffff, le)]);
}

/** The header of one element (tag, VR, length) in the given syntax. */
export function elementHeader(tag: number, vr: string, length: number, s: Syntax): Buffer {
  const le = s.littleEndian;
  if (!s.explicit) {
    return Buffer.concat([tagBytes(tag, le), u32(length, le)]);
  }
  if (LONG_VRS.has(vr)) {
    return Buffer.concat([tagBytes(tag, le), Buffer.from(vr, 'latin1'), Buffer.alloc(2), u32(length, le)]);
  }
  if (length > 0xffff) {
    throw new RangeError(`Value of ${tag.toString(16)} (${vr}) is too long for a 16-bit length.`);
  }
  return Buffer.concat([tagBytes(tag, le), Buffer.from(vr, 'latin1'), u16(length, le)]);
}

function padEven(b: Buffer, pad: number): Buffer {
  return b.length % 2 === 0 ? b : Buffer.concat([b, Buffer.from([pad])]);
}

function numbers(vr: NumberVr, values: readonly number[], le: boolean): Buffer {
  const size = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8 }[vr];
  const b = Buffer.alloc(size * values.length);
  values.forEach((v, i) => {
    const o = i * size;
    switch (vr) {
      case 'US':
        if (le) {
          b.writeUInt16LE(v, o);
        } else {
          b.writeUInt16BE(v, o);
        }
        break;
      case 'SS':
        if (le) {
          b.writeInt16LE(v, o);
        } else {
          b.writeInt16BE(v, o);
        }
        break;
      case 'UL':
        if (le) {
          b.writeUInt32LE(v, o);
        } else {
          b.writeUInt32BE(v, o);
        }
        break;
      case 'SL':
        if (le) {
          b.writeInt32LE(v, o);
        } else {
          b.writeInt32BE(v, o);
        }
        break;
      case 'FL':
        if (le) {
          b.writeFloatLE(v, o);
        } else {
          b.writeFloatBE(v, o);
        }
        break;
      case 'FD':
        if (le) {
          b.writeDoubleLE(v, o);
        } else {
          b.writeDoubleBE(v, o);
        }
        break;
    }
  });
  return b;
}

const NUMBER_VRS: ReadonlySet<string> = new Set<NumberVr>(['US', 'UL', 'SS', 'SL', 'FL', 'FD']);
function isNumeric(e: Element): e is Extract<Element, { vr: NumberVr }> {
  return NUMBER_VRS.has(e.vr);
}

/** The value bytes of a non-SQ element, padded to even length (UI with NUL, text with space). */
function valueBytes(e: Exclude<Element, { vr: 'SQ' }>, s: Syntax): Buffer {
  if (e.vr === 'OB' || e.vr === 'UN') {
    return padEven(Buffer.from(e.value), 0);
  }
  if (e.vr === 'OW') {
    if (e.value.length % 2 !== 0) {
      throw new RangeError('OW values must have an even length.');
    }
    const b = Buffer.from(e.value);
    return s.littleEndian ? b : b.swap16();
  }
  if (isNumeric(e)) {
    return numbers(e.vr, typeof e.value === 'number' ? [e.value] : e.value, s.littleEndian);
  }
  const pad = e.vr === 'UI' ? 0 : 0x20;
  if (e.value instanceof Uint8Array) {
    return padEven(Buffer.from(e.value), pad);
  }
  const text = typeof e.value === 'string' ? e.value : e.value.join('\\');
  return padEven(Buffer.from(text, 'utf8'), pad);
}

function encodeSequence(e: Extract<Element, { vr: 'SQ' }>, s: Syntax): Buffer {
  const undef = e.undefinedLength === true;
  const items = e.items.map((item) => {
    const body = encodeDataset(item, s);
    if (!undef) {
      return Buffer.concat([tagBytes(ITEM, s.littleEndian), u32(body.length, s.littleEndian), body]);
    }
    return Buffer.concat([
      tagBytes(ITEM, s.littleEndian),
      u32(UNDEFINED_LENGTH, s.littleEndian),
      body,
      tagBytes(ITEM_DELIMITATION, s.littleEndian),
      u32(0, s.littleEndian),
    ]);
  });
  const body = Buffer.concat(items);
  if (!undef) {
    return Buffer.concat([elementHeader(e.tag, 'SQ', body.length, s), body]);
  }
  return Buffer.concat([
    elementHeader(e.tag, 'SQ', UNDEFINED_LENGTH, s),
    body,
    tagBytes(SEQUENCE_DELIMITATION, s.littleEndian),
    u32(0, s.littleEndian),
  ]);
}

/** Encodes one element (header and value). */
export function encodeElement(e: Element, s: Syntax): Buffer {
  if (e.vr === 'SQ') {
    return encodeSequence(e, s);
  }
  const value = valueBytes(e, s);
  return Buffer.concat([elementHeader(e.tag, e.vr, value.length, s), value]);
}

/** Encodes elements in ascending tag order, as PS3.5 §7.1 requires. */
export function encodeDataset(elements: readonly Element[], s: Syntax): Buffer {
  const sorted = [...elements].sort((a, b) => a.tag - b.tag);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]?.tag === sorted[i - 1]?.tag) {
      throw new Error(`Duplicate tag ${sorted[i]?.tag.toString(16).padStart(8, '0') ?? ''}.`);
    }
  }
  return Buffer.concat(sorted.map((e) => encodeElement(e, s)));
}

/** An ImplementationClassUID for files this helper writes (a fixed 2.25 UUID-derived UID). */
export const IMPLEMENTATION_CLASS_UID = '2.25.207018466044439072149795101053583826373';

/** Preamble, "DICM" and the File Meta Information group (always explicit VR little endian). */
export function encodeFileMeta(o: {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntax: TransferSyntaxUid;
}): Buffer {
  const metaSyntax = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
  const body = encodeDataset(
    [
      { tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) },
      { tag: 0x00020002, vr: 'UI', value: o.sopClassUid },
      { tag: 0x00020003, vr: 'UI', value: o.sopInstanceUid },
      { tag: 0x00020010, vr: 'UI', value: o.transferSyntax },
      { tag: 0x00020012, vr: 'UI', value: IMPLEMENTATION_CLASS_UID },
      { tag: 0x00020013, vr: 'SH', value: 'XNATGW_TEST' },
    ],
    metaSyntax,
  );
  const groupLength = encodeElement({ tag: 0x00020000, vr: 'UL', value: body.length }, metaSyntax);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), groupLength, body]);
}
