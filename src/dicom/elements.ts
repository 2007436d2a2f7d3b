//! Data elements at the byte level: element headers in every encoding, and skipping sequences.
// Shared by the header reader (read.ts), the completeness check (complete.ts) and the DICOMDIR
// reader (dicomdir.ts), so there is one definition of explicit/implicit/big-endian headers.
import type { ByteSource } from './byte-source.ts';
import type { DatasetEncoding } from './transfer-syntax.ts';

/** VRs whose explicit-VR header has 2 reserved bytes and a 32-bit length (PS3.5 §7.1.2). */
export const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
/** Undefined length (sequences, items, encapsulated pixel data). */
export const UNDEFINED = 0xffffffff;
export const ITEM = 0xfffee000;
export const ITEM_END = 0xfffee00d;
export const SEQ_END = 0xfffee0dd;
export const PIXEL_DATA = 0x7fe00010;
/** Deepest nesting of sequences any walker follows. */
export const MAX_DEPTH = 32;

export class HeaderError extends Error {
  override readonly name = 'HeaderError';
}

export interface ElementHeader {
  tag: number;
  vr: string | null;
  length: number;
}

export async function readElementHeader(src: ByteSource, enc: DatasetEncoding): Promise<ElementHeader> {
  const h = await src.read(8);
  const le = enc.littleEndian;
  const group = le ? h.readUInt16LE(0) : h.readUInt16BE(0);
  const elem = le ? h.readUInt16LE(2) : h.readUInt16BE(2);
  const tag = ((group << 16) | elem) >>> 0;
  if (group === 0xfffe || !enc.explicitVr) {
    return { tag, vr: null, length: le ? h.readUInt32LE(4) : h.readUInt32BE(4) };
  }
  const vr = h.toString('latin1', 4, 6);
  if (!/^[A-Z]{2}$/.test(vr)) {
    throw new HeaderError(`Invalid VR at tag ${tag.toString(16).padStart(8, '0')}.`);
  }
  if (LONG_VRS.has(vr)) {
    const l = await src.read(4);
    return { tag, vr, length: le ? l.readUInt32LE(0) : l.readUInt32BE(0) };
  }
  return { tag, vr, length: le ? h.readUInt16LE(6) : h.readUInt16BE(6) };
}

/** The encoding of UN values and of item/delimiter headers (PS3.5 §6.2.2, §7.5). */
export const IMPLICIT_LE: DatasetEncoding = { explicitVr: false, littleEndian: true, deflated: false };

/** Skips the content of an undefined-length value: items (datasets or fragments) up to the sequence delimiter. */
export async function skipUndefined(src: ByteSource, enc: DatasetEncoding, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) {
    throw new HeaderError('Sequences nested too deeply.');
  }
  for (;;) {
    const h = await readElementHeader(src, { ...enc, explicitVr: false });
    if (h.tag === SEQ_END) {
      return;
    }
    if (h.tag !== ITEM) {
      throw new HeaderError(`Expected an item, found ${h.tag.toString(16).padStart(8, '0')}.`);
    }
    if (h.length !== UNDEFINED) {
      await src.skip(h.length);
    } else {
      await skipItemDataset(src, enc, depth + 1);
    }
  }
}

async function skipItemDataset(src: ByteSource, enc: DatasetEncoding, depth: number): Promise<void> {
  for (;;) {
    const h = await readElementHeader(src, enc);
    if (h.tag === ITEM_END) {
      return;
    }
    if (h.length === UNDEFINED) {
      await skipUndefined(src, h.vr === 'UN' ? IMPLICIT_LE : enc, depth + 1);
    } else {
      await src.skip(h.length);
    }
  }
}
