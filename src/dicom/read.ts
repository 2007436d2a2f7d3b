//! Reads the few header attributes the gateway needs, without loading the dataset.
// Our own element walker instead of dcmjs: it stops at the last wanted tag, never buffers pixel
// data, understands implicit/explicit/big-endian/deflated datasets, and skips undefined-length
// sequences item by item (reference/libs.md §2: dcmjs needs ~7× the file size in memory).
import { bufferSource, CorruptData, deflatedSource, EndOfData, fileSource, type ByteSource } from './byte-source.ts';
import { encodingOf, type DatasetEncoding } from './transfer-syntax.ts';

export const Tag = {
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  Modality: 0x00080060,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
} as const;
export type TagName = keyof typeof Tag;

const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const UNDEFINED = 0xffffffff;
const ITEM = 0xfffee000;
const ITEM_END = 0xfffee00d;
const SEQ_END = 0xfffee0dd;
const PIXEL_DATA = 0x7fe00010;
const MAX_DEPTH = 32;
/** A header that needs more than this before the wanted tags is refused as unparsable. */
const MAX_HEADER_BYTES = 512 * 1024 * 1024;

export class HeaderError extends Error {
  override readonly name = 'HeaderError';
}

interface ElementHeader {
  tag: number;
  vr: string | null;
  length: number;
}

async function readElementHeader(src: ByteSource, enc: DatasetEncoding): Promise<ElementHeader> {
  const h = await src.read(8);
  const le = enc.littleEndian;
  const group = le ? h.readUInt16LE(0) : h.readUInt16BE(0);
  const elem = le ? h.readUInt16LE(2) : h.readUInt16BE(2);
  const tag = ((group << 16) | elem) >>> 0;
  if (group === 0xfffe || !enc.explicitVr) {
    return { tag, vr: null, length: le ? h.readUInt32LE(4) : h.readUInt32BE(4) };
  }
  const vr = h.toString('latin1', 4, 6);
  if (!/^[A-Z]{2}$/.test(vr)) {throw new HeaderError(`Invalid VR at tag ${tag.toString(16).padStart(8, '0')}.`);}
  if (LONG_VRS.has(vr)) {
    const l = await src.read(4);
    return { tag, vr, length: le ? l.readUInt32LE(0) : l.readUInt32BE(0) };
  }
  return { tag, vr, length: le ? h.readUInt16LE(6) : h.readUInt16BE(6) };
}

const IMPLICIT_LE: DatasetEncoding = { explicitVr: false, littleEndian: true, deflated: false };

/** Skips the content of an undefined-length value: items (datasets or fragments) up to the sequence delimiter. */
async function skipUndefined(src: ByteSource, enc: DatasetEncoding, depth: number): Promise<void> {
  if (depth > MAX_DEPTH) {throw new HeaderError('Sequences nested too deeply.');}
  for (;;) {
    const h = await readElementHeader(src, { ...enc, explicitVr: false });
    if (h.tag === SEQ_END) {return;}
    if (h.tag !== ITEM) {throw new HeaderError(`Expected an item, found ${h.tag.toString(16).padStart(8, '0')}.`);}
    if (h.length !== UNDEFINED) {await src.skip(h.length);}
    else {await skipItemDataset(src, enc, depth + 1);}
  }
}

async function skipItemDataset(src: ByteSource, enc: DatasetEncoding, depth: number): Promise<void> {
  for (;;) {
    const h = await readElementHeader(src, enc);
    if (h.tag === ITEM_END) {return;}
    if (h.length === UNDEFINED) {await skipUndefined(src, h.vr === 'UN' ? IMPLICIT_LE : enc, depth + 1);}
    else {await src.skip(h.length);}
  }
}

/** String value as stored: Latin-1 bytes, trailing NUL/space padding removed. */
function decodeText(b: Buffer): string {
  return b.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

export type Header = Partial<Record<TagName, string>>;

/**
 * Walks top-level elements of `src` until the first tag beyond the last wanted one.
 * `complete`: the source holds the whole dataset, so running out of bytes at an element boundary
 * means the dataset ended; otherwise running out means "need more bytes" and EndOfData propagates.
 */
async function walk(src: ByteSource, enc: DatasetEncoding, wanted: readonly TagName[], complete: boolean): Promise<Header> {
  const byTag = new Map<number, TagName>(wanted.map((n) => [Tag[n], n]));
  const last = Math.max(...byTag.keys());
  const out: Header = {};
  let previous = -1;
  for (;;) {
    if (src.position > MAX_HEADER_BYTES) {throw new HeaderError('Header too large before the series attributes.');}
    // A complete dataset may end before the last wanted tag, but only at an element boundary;
    // running out inside an element means the data was cut short (EndOfData propagates).
    if (complete && (await src.atEnd())) {
      if (src.position === 0) {throw new HeaderError('Empty dataset.');}
      break;
    }
    const h = await readElementHeader(src, enc);
    if (h.tag < previous) {throw new HeaderError('Top-level elements are out of order.');}
    previous = h.tag;
    if (h.tag > last || h.tag === PIXEL_DATA) {break;}
    const name = byTag.get(h.tag);
    if (h.length === UNDEFINED) {
      await skipUndefined(src, h.vr === 'UN' ? IMPLICIT_LE : enc, 1);
    } else if (name && h.length <= 1024) {
      out[name] = decodeText(await src.read(h.length));
    } else {
      await src.skip(h.length);
    }
  }
  return out;
}

const ALL_TAGS = Object.keys(Tag) as TagName[];

/**
 * Reads the wanted top-level attributes from the dataset that starts at `datasetOffset` in
 * `path`, encoded in `transferSyntaxUid`. Throws HeaderError for malformed data and EndOfData
 * for truncated files.
 */
export async function readHeader(path: string, datasetOffset: number, transferSyntaxUid: string, wanted: readonly TagName[] = ALL_TAGS): Promise<Header> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);}
  const src = enc.deflated ? deflatedSource(path, datasetOffset) : await fileSource(path, datasetOffset);
  try {
    return await walk(src, enc, wanted, true);
  } catch (err) {
    if (err instanceof CorruptData) {throw new HeaderError(err.message);}
    throw err;
  } finally {
    await src.close();
  }
}

/**
 * Reads the header from the first bytes of a dataset as they arrive. Returns null while more
 * bytes are needed (unless `complete`: then `prefix` is the whole dataset). Not for deflated data.
 */
export async function readHeaderPrefix(prefix: Buffer, transferSyntaxUid: string, complete: boolean, wanted: readonly TagName[] = ALL_TAGS): Promise<Header | null> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc || enc.deflated) {throw new HeaderError(`Cannot read ${transferSyntaxUid} from a prefix.`);}
  try {
    return await walk(bufferSource(prefix), enc, wanted, complete);
  } catch (err) {
    if (err instanceof EndOfData && !complete) {return null;}
    throw err;
  }
}

// The element-header reader and its result, for other walkers over the same encodings
// (the DICOMDIR reader in sniff.ts) so there is one definition of explicit/implicit/BE headers.
export { readElementHeader, type ElementHeader };

// Imports for the completeness check below; kept with it because this part is appended to a
// module other code depends on (ES imports are hoisted, so their place does not matter).
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';

/** The group of item and delimitation tags: never a top-level element. */
const DELIMITER_GROUP = 0xfffe;

/**
 * Inflates a deflated dataset to its end, discarding the bytes, to learn whether the compressed
 * stream is whole. deflatedSource reports a cut stream (zlib Z_BUF_ERROR) as EndOfData, which its
 * `atEnd()` takes for a clean end: a stream cut where the inflated bytes happen to end on an
 * element boundary would pass as complete without this separate pass.
 */
async function checkDeflateStream(path: string, datasetOffset: number): Promise<void> {
  const discard = new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
  try {
    await pipeline(createReadStream(path, { start: datasetOffset }), createInflateRaw(), discard);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'Z_BUF_ERROR') {throw new EndOfData('Deflated data was cut short.');}
    if (typeof code === 'string' && code.startsWith('Z_')) {throw new HeaderError(`Deflated data is corrupt (${code}).`);}
    throw err;
  }
}

/**
 * Walks every top-level element of the dataset to its end. Throws EndOfData when the data is cut
 * short (a value or item runs past the end) and HeaderError when it is malformed. Never reads
 * values into memory beyond element headers (skips seek on plain files).
 */
export async function checkComplete(path: string, datasetOffset: number, transferSyntaxUid: string): Promise<{ elements: number }> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);}
  if (enc.deflated) {await checkDeflateStream(path, datasetOffset);}
  return walkToEnd(enc.deflated ? deflatedSource(path, datasetOffset) : await fileSource(path, datasetOffset), enc);
}

/** checkComplete for a dataset already in memory (small files are read once, whole). Not for deflated data. */
export async function checkCompleteBuffer(dataset: Buffer, transferSyntaxUid: string): Promise<{ elements: number }> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);}
  if (enc.deflated) {throw new HeaderError('Deflated datasets are checked from their file.');}
  return walkToEnd(bufferSource(dataset), enc);
}

async function walkToEnd(src: ByteSource, enc: DatasetEncoding): Promise<{ elements: number }> {
  try {
    let elements = 0;
    let previous = -1;
    // Only a top-level element boundary may be the end: inside a value, an item or an
    // undefined-length value (encapsulated pixel data, sequences) running out is EndOfData.
    while (!(await src.atEnd())) {
      const h = await readElementHeader(src, enc);
      if (h.tag >>> 16 === DELIMITER_GROUP) {
        throw new HeaderError(`Item or delimiter ${h.tag.toString(16).padStart(8, '0')} at the top level.`);
      }
      // Strictly ascending (PS3.5 §7.1): a repeated or lower tag means we are reading garbage.
      if (h.tag <= previous) {throw new HeaderError('Top-level elements are out of order.');}
      previous = h.tag;
      if (h.length === UNDEFINED) {
        await skipUndefined(src, h.vr === 'UN' ? IMPLICIT_LE : enc, 1);
      } else {
        await src.skip(h.length);
      }
      elements++;
    }
    if (elements === 0) {throw new HeaderError('Empty dataset.');}
    return { elements };
  } catch (err) {
    if (err instanceof CorruptData) {throw new HeaderError(err.message);}
    throw err;
  } finally {
    await src.close();
  }
}
