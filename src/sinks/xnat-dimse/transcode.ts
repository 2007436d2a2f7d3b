//! The fallback when a receiver refuses an instance's own syntax: uncompressed datasets rewritten as Explicit VR Little Endian.
// Only for Implicit VR LE, Explicit VR Big Endian and Deflated Explicit VR LE, whose pixel data is
// native: element headers are rewritten (VRs from the dictionary for implicit data, byte order
// swapped for big endian) and values are copied. A big file's pixel data is not read into memory:
// it is returned as a file range the sender streams (and byte-swaps for big-endian OW).
import { openSync, readSync, closeSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { inflateRawSync } from 'node:zlib';
import { readDicomFile } from '../../dicom/dataset-file.ts';
import type { Element } from '../../dicom/dataset.ts';
import { HeaderError, ITEM, ITEM_END, LONG_VRS, PIXEL_DATA, SEQ_END, UNDEFINED } from '../../dicom/elements.ts';
import { TS, encodingOf, type DatasetEncoding } from '../../dicom/transfer-syntax.ts';

/** A byte range of the instance's file, streamed as is (or with 16-bit words byte-swapped). */
export interface FileRange {
  readonly from: number;
  readonly to: number;
  readonly swap16: boolean;
}

/** What to send as the dataset, in order: bytes in memory and ranges of the file. */
export type BodyPart = Buffer | FileRange;

const SWAP: Readonly<Record<string, 2 | 4 | 8>> = {
  US: 2,
  SS: 2,
  OW: 2,
  AT: 2,
  UL: 4,
  SL: 4,
  FL: 4,
  OF: 4,
  OL: 4,
  FD: 8,
  OD: 8,
  SV: 8,
  UV: 8,
  OV: 8,
};

/** Explicit VR LE header for `tag`; short VRs get a 16-bit length (PS3.5 §7.1.2). */
function header(tag: number, vr: string, length: number): Buffer {
  const long = LONG_VRS.has(vr);
  const h = Buffer.alloc(long ? 12 : 8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.write(vr, 4, 'latin1');
  if (long) {
    h.writeUInt32LE(length >>> 0, 8);
  } else {
    h.writeUInt16LE(length, 6);
  }
  return h;
}

function delimiter(tag: number, length: number): Buffer {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.writeUInt32LE(length >>> 0, 4);
  return h;
}

/**
 * The VR to write. In implicit data the dictionary's choice for "OB or OW" is wrong for pixel and
 * overlay data, which PS3.5 §A.1 defines as OW there; private creators are LO (PS3.5 §7.8.1).
 */
function vrFor(el: Element, enc: DatasetEncoding): string {
  if (el.items && el.vr !== 'UN') {
    return 'SQ';
  }
  if (enc.explicitVr) {
    return el.vr;
  }
  const group = el.tag >>> 16;
  const elem = el.tag & 0xffff;
  if (el.tag === PIXEL_DATA || ((group & 0xff00) === 0x6000 && elem === 0x3000)) {
    return 'OW';
  }
  if (group % 2 === 1 && elem >= 0x0010 && elem <= 0x00ff) {
    return 'LO';
  }
  return el.vr;
}

/** The value in little-endian byte order. */
function littleEndian(value: Buffer, vr: string, enc: DatasetEncoding): Buffer {
  const width = SWAP[vr];
  if (enc.littleEndian || width === undefined) {
    return value;
  }
  if (value.length % width) {
    throw new HeaderError(`A ${vr} value of ${String(value.length)} bytes cannot be byte-swapped.`);
  }
  const copy = Buffer.from(value);
  return width === 2 ? copy.swap16() : width === 4 ? copy.swap32() : copy.swap64();
}

function writeElements(elements: readonly Element[], enc: DatasetEncoding, source: Buffer, out: Buffer[]): void {
  for (const el of elements) {
    if (el.encapsulated) {
      throw new HeaderError('Encapsulated pixel data cannot be transcoded.');
    }
    let vr = vrFor(el, enc);
    if (el.items && vr === 'UN') {
      // A sequence relayed as UN keeps its implicit-LE value in any syntax (PS3.5 §6.2.2): copy it.
      const lengthAt = el.start + 8;
      const undefinedLength =
        (enc.littleEndian ? source.readUInt32LE(lengthAt) : source.readUInt32BE(lengthAt)) === UNDEFINED;
      const value = source.subarray(el.start + 12, el.end);
      out.push(header(el.tag, 'UN', undefinedLength ? UNDEFINED : value.length), value);
      continue;
    }
    if (el.items) {
      out.push(header(el.tag, 'SQ', UNDEFINED));
      for (const item of el.items) {
        out.push(delimiter(ITEM, UNDEFINED));
        writeElements(item.elements, enc, source, out);
        out.push(delimiter(ITEM_END, 0));
      }
      out.push(delimiter(SEQ_END, 0));
      continue;
    }
    const value = littleEndian(el.value ?? Buffer.alloc(0), vr, enc);
    // A short-VR value over 64 KiB has no explicit encoding but UN (PS3.5 §6.2.2 note).
    if (!LONG_VRS.has(vr) && value.length > 0xffff) {
      vr = 'UN';
    }
    out.push(header(el.tag, vr, value.length), value);
  }
}

/** Reads the 12-byte element header of the pixel data of a big file: VR and header length. */
function pixelHeader(path: string, at: number, enc: DatasetEncoding): { vr: string; headerLength: number } {
  if (!enc.explicitVr) {
    return { vr: 'OW', headerLength: 8 };
  }
  const fd = openSync(path, 'r');
  try {
    const h = Buffer.alloc(12);
    readSync(fd, h, 0, 12, at);
    return { vr: h.toString('latin1', 4, 6), headerLength: 12 };
  } finally {
    closeSync(fd);
  }
}

/** True when `transcodeToExplicitLe` can handle data stored in this syntax. */
export function canTranscode(transferSyntaxUid: string): boolean {
  return (
    transferSyntaxUid === TS.ImplicitLE ||
    transferSyntaxUid === TS.ExplicitBE ||
    transferSyntaxUid === TS.DeflatedExplicitLE
  );
}

/** The dataset of `path` (at `datasetOffset`, in `transferSyntaxUid`) as Explicit VR Little Endian. */
export async function transcodeToExplicitLe(
  path: string,
  o: { datasetOffset: number; transferSyntaxUid: string },
): Promise<BodyPart[]> {
  const enc = encodingOf(o.transferSyntaxUid);
  if (!enc || !canTranscode(o.transferSyntaxUid)) {
    throw new HeaderError(`Transfer syntax ${o.transferSyntaxUid} is not transcoded.`);
  }
  if (enc.deflated) {
    // Inflated, a deflated dataset already is Explicit VR LE, byte for byte (PS3.5 §A.5).
    const whole = await readFile(path);
    try {
      return [inflateRawSync(whole.subarray(o.datasetOffset))];
    } catch (err) {
      throw new HeaderError(`Deflated dataset does not inflate: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  const file = await readDicomFile(path, o);
  const out: Buffer[] = [];
  writeElements(file.main.elements, enc, file.main.source, out);
  if (!file.pixelRange) {
    return [Buffer.concat(out)];
  }
  const { vr, headerLength } = pixelHeader(path, file.pixelRange.from, enc);
  const from = file.pixelRange.from + headerLength;
  out.push(header(PIXEL_DATA, vr === 'OB' ? 'OB' : 'OW', file.pixelRange.to - from));
  const parts: BodyPart[] = [
    Buffer.concat(out),
    { from, to: file.pixelRange.to, swap16: !enc.littleEndian && vr !== 'OB' },
  ];
  if (file.tail) {
    const tail: Buffer[] = [];
    writeElements(file.tail.elements, enc, file.tail.source, tail);
    parts.push(Buffer.concat(tail));
  }
  return parts;
}
