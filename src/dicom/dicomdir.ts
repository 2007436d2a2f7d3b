//! Reads a DICOMDIR's Referenced File IDs: which files a CD or export says it holds.
// The records sit in nested sequences of any length form, and implicit-VR or big-endian DICOMDIRs
// exist (pydicom ships both), so this is a full recursive walk in the file's own syntax.
import { stat } from 'node:fs/promises';
import { CorruptData, deflatedSource, fileSource, type ByteSource } from './byte-source.ts';
import {
  HeaderError,
  IMPLICIT_LE,
  ITEM,
  ITEM_END,
  MAX_DEPTH,
  PIXEL_DATA,
  readElementHeader,
  SEQ_END,
  UNDEFINED,
} from './elements.ts';
import { classifyFile } from './sniff.ts';
import { encodingOf, type DatasetEncoding } from './transfer-syntax.ts';

/** The largest DICOMDIR we walk: a directory of ~1 million records is still far below this. */
const MAX_DICOMDIR_BYTES = 256 * 1024 * 1024;
const REFERENCED_FILE_ID = 0x00041500;
/** Eight components of at most 16 characters (PS3.10 §8.2) and separators, with generous room. */
const MAX_FILE_ID_BYTES = 4096;
/**
 * Sequences a DICOMDIR may hold, for implicit VR where a defined-length SQ looks like any other
 * value: Directory Record Sequence and the sequences of PS3.3 F.5 records that may hold records'
 * attributes (icon image, content, concept names, referenced series/images).
 */
const KNOWN_SEQUENCES = new Set([
  0x00041220, 0x00880200, 0x0040a730, 0x0040a043, 0x00081115, 0x00081140, 0x00081199, 0x00400275, 0x0040a168,
  0x00081032,
]);

interface DirWalk {
  readonly src: ByteSource;
  readonly out: string[];
}

/** One Referenced File ID: CS components separated by '\', padded with spaces. */
function fileId(value: Buffer): string {
  return value
    .toString('latin1')
    .split('\\')
    .map((c) => c.replace(/^[ \0]+|[ \0]+$/g, ''))
    .join('/');
}

/** Walks one dataset (top level, or an item up to `end` or up to its delimiter when `end` is null). */
async function walkDirDataset(
  w: DirWalk,
  enc: DatasetEncoding,
  end: number | null,
  topLevel: boolean,
  depth: number,
): Promise<void> {
  if (depth > MAX_DEPTH) {
    throw new HeaderError('Sequences nested too deeply.');
  }
  for (;;) {
    if (w.src.position > MAX_DICOMDIR_BYTES) {
      throw new HeaderError('DICOMDIR larger than 256 MiB.');
    }
    if (topLevel && (await w.src.atEnd())) {
      return;
    }
    if (end !== null && w.src.position >= end) {
      if (w.src.position > end) {
        throw new HeaderError('An element runs past the end of its item.');
      }
      return;
    }
    const h = await readElementHeader(w.src, enc);
    if (h.tag === ITEM_END && end === null && !topLevel) {
      return;
    }
    if (h.tag >>> 16 === 0xfffe) {
      throw new HeaderError(`Unexpected delimiter ${h.tag.toString(16).padStart(8, '0')}.`);
    }
    if (h.tag === REFERENCED_FILE_ID && h.length !== UNDEFINED) {
      if (h.length > MAX_FILE_ID_BYTES) {
        throw new HeaderError('Referenced File ID too long.');
      }
      w.out.push(fileId(await w.src.read(h.length)));
    } else if (h.length === UNDEFINED) {
      // Encapsulated pixel data (icon images) holds fragments; UN holds implicit VR LE (PS3.5 §6.2.2).
      const fragments = h.tag === PIXEL_DATA || h.vr === 'OB' || h.vr === 'OW';
      await walkItems(w, h.vr === 'UN' ? IMPLICIT_LE : enc, null, depth + 1, fragments);
    } else if (h.vr === 'SQ' || (h.vr === null && KNOWN_SEQUENCES.has(h.tag))) {
      await walkItems(w, enc, w.src.position + h.length, depth + 1, false);
    } else {
      await w.src.skip(h.length);
    }
  }
}

/** Walks the items of a sequence (to `end`, or to its delimiter when `end` is null); fragments are skipped. */
async function walkItems(
  w: DirWalk,
  enc: DatasetEncoding,
  end: number | null,
  depth: number,
  fragments: boolean,
): Promise<void> {
  for (;;) {
    if (end !== null && w.src.position >= end) {
      if (w.src.position > end) {
        throw new HeaderError('An item runs past the end of its sequence.');
      }
      return;
    }
    const h = await readElementHeader(w.src, { ...enc, explicitVr: false });
    if (h.tag === SEQ_END && end === null) {
      return;
    }
    if (h.tag !== ITEM) {
      throw new HeaderError(`Expected an item, found ${h.tag.toString(16).padStart(8, '0')}.`);
    }
    if (fragments) {
      await w.src.skip(h.length);
    } else if (h.length === UNDEFINED) {
      await walkDirDataset(w, enc, null, false, depth);
    } else {
      await walkDirDataset(w, enc, w.src.position + h.length, false, depth);
    }
  }
}

/** ReferencedFileID values (0004,1500) of every directory record of a DICOMDIR, as '/'-joined relative paths. */
export async function readDicomdirReferences(path: string): Promise<string[]> {
  const { size } = await stat(path);
  if (size > MAX_DICOMDIR_BYTES) {
    throw new HeaderError('DICOMDIR larger than 256 MiB.');
  }
  const sniffed = await classifyFile(path);
  if (sniffed.kind !== 'dicomdir') {
    throw new HeaderError(
      `Not a DICOMDIR (${sniffed.kind === 'not-dicom' || sniffed.kind === 'invalid' ? sniffed.reason : sniffed.kind}).`,
    );
  }
  // The meta's syntax, not always explicit VR LE: implicit and big-endian DICOMDIRs exist (pydicom ships both).
  const ts = sniffed.transferSyntaxUid;
  const enc = encodingOf(ts);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${ts}.`);
  }
  const src = enc.deflated
    ? deflatedSource(path, sniffed.datasetOffset)
    : await fileSource(path, sniffed.datasetOffset);
  const out: string[] = [];
  try {
    await walkDirDataset({ src, out }, enc, null, true, 0);
  } catch (err) {
    if (err instanceof CorruptData) {
      throw new HeaderError(err.message);
    }
    throw err;
  } finally {
    await src.close();
  }
  return out;
}
