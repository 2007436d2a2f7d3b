//! Reads the few header attributes the gateway needs, without loading the dataset.
// Our own element walker instead of dcmjs: it stops at the last wanted tag, never buffers pixel
// data, understands implicit/explicit/big-endian/deflated datasets, and skips undefined-length
// sequences item by item (reference/libs.md §2: dcmjs needs ~7× the file size in memory).
import { bufferSource, CorruptData, deflatedSource, EndOfData, fileSource, type ByteSource } from './byte-source.ts';
import { HeaderError, IMPLICIT_LE, PIXEL_DATA, readElementHeader, skipUndefined, UNDEFINED } from './elements.ts';
import { encodingOf, type DatasetEncoding } from './transfer-syntax.ts';

export const Tag = {
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  StudyDate: 0x00080020,
  // AccessionNumber and PatientID are read only to be hashed for find (src/find/digest.ts), never stored.
  AccessionNumber: 0x00080050,
  Modality: 0x00080060,
  PatientID: 0x00100020,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
  SeriesNumber: 0x00200011,
  InstanceNumber: 0x00200013,
} as const;
export type TagName = keyof typeof Tag;

/** A header that needs more than this before the wanted tags is refused as unparsable. */
const MAX_HEADER_BYTES = 512 * 1024 * 1024;

/** String value as stored: Latin-1 bytes, trailing NUL/space padding removed. */
export function decodeText(b: Buffer): string {
  return b
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');
}

export type Header = Partial<Record<TagName, string>>;

/**
 * Walks top-level elements of `src` until the first tag beyond the last wanted one.
 * `complete`: the source holds the whole dataset, so running out of bytes at an element boundary
 * means the dataset ended; otherwise running out means "need more bytes" and EndOfData propagates.
 */
async function walk(
  src: ByteSource,
  enc: DatasetEncoding,
  wanted: readonly TagName[],
  complete: boolean,
): Promise<Header> {
  const byTag = new Map<number, TagName>(wanted.map((n) => [Tag[n], n]));
  const last = Math.max(...byTag.keys());
  const out: Header = {};
  let previous = -1;
  for (;;) {
    if (src.position > MAX_HEADER_BYTES) {
      throw new HeaderError('Header too large before the series attributes.');
    }
    // A complete dataset may end before the last wanted tag, but only at an element boundary;
    // running out inside an element means the data was cut short (EndOfData propagates).
    if (complete && (await src.atEnd())) {
      if (src.position === 0) {
        throw new HeaderError('Empty dataset.');
      }
      break;
    }
    const h = await readElementHeader(src, enc);
    if (h.tag < previous) {
      throw new HeaderError('Top-level elements are out of order.');
    }
    previous = h.tag;
    if (h.tag > last || h.tag === PIXEL_DATA) {
      break;
    }
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
export async function readHeader(
  path: string,
  datasetOffset: number,
  transferSyntaxUid: string,
  wanted: readonly TagName[] = ALL_TAGS,
): Promise<Header> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);
  }
  const src = enc.deflated ? deflatedSource(path, datasetOffset) : await fileSource(path, datasetOffset);
  try {
    return await walk(src, enc, wanted, true);
  } catch (err) {
    if (err instanceof CorruptData) {
      throw new HeaderError(err.message);
    }
    throw err;
  } finally {
    await src.close();
  }
}

/**
 * Reads the header from the first bytes of a dataset as they arrive. Returns null while more
 * bytes are needed (unless `complete`: then `prefix` is the whole dataset). Not for deflated data.
 */
export async function readHeaderPrefix(
  prefix: Buffer,
  transferSyntaxUid: string,
  complete: boolean,
  wanted: readonly TagName[] = ALL_TAGS,
): Promise<Header | null> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc || enc.deflated) {
    throw new HeaderError(`Cannot read ${transferSyntaxUid} from a prefix.`);
  }
  try {
    return await walk(bufferSource(prefix), enc, wanted, complete);
  } catch (err) {
    if (err instanceof EndOfData && !complete) {
      return null;
    }
    throw err;
  }
}
