//! Is a dataset whole? Walks every element to the end of the file, so a copy cut short is caught.
// A header-only parse stops at the last wanted tag and would take a file cut inside its pixel data
// for a good one; an import folder full of half-finished copies needs the whole walk.
import { createReadStream } from 'node:fs';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createInflateRaw } from 'node:zlib';
import { bufferSource, CorruptData, deflatedSource, EndOfData, fileSource, type ByteSource } from './byte-source.ts';
import { HeaderError, IMPLICIT_LE, readElementHeader, skipUndefined, UNDEFINED } from './elements.ts';
import { encodingOf, type DatasetEncoding } from './transfer-syntax.ts';

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
    if (code === 'Z_BUF_ERROR') {
      throw new EndOfData('Deflated data was cut short.');
    }
    if (typeof code === 'string' && code.startsWith('Z_')) {
      throw new HeaderError(`Deflated data is corrupt (${code}).`);
    }
    throw err;
  }
}

/**
 * Walks every top-level element of the dataset to its end. Throws EndOfData when the data is cut
 * short (a value or item runs past the end) and HeaderError when it is malformed. Never reads
 * values into memory beyond element headers (skips seek on plain files).
 */
export async function checkComplete(
  path: string,
  datasetOffset: number,
  transferSyntaxUid: string,
): Promise<{ elements: number }> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);
  }
  if (enc.deflated) {
    await checkDeflateStream(path, datasetOffset);
  }
  return walkToEnd(enc.deflated ? deflatedSource(path, datasetOffset) : await fileSource(path, datasetOffset), enc);
}

/** checkComplete for a dataset already in memory (small files are read once, whole). Not for deflated data. */
export async function checkCompleteBuffer(dataset: Buffer, transferSyntaxUid: string): Promise<{ elements: number }> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${transferSyntaxUid}.`);
  }
  if (enc.deflated) {
    throw new HeaderError('Deflated datasets are checked from their file.');
  }
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
      if (h.tag <= previous) {
        throw new HeaderError('Top-level elements are out of order.');
      }
      previous = h.tag;
      if (h.length === UNDEFINED) {
        await skipUndefined(src, h.vr === 'UN' ? IMPLICIT_LE : enc, 1);
      } else {
        await src.skip(h.length);
      }
      elements++;
    }
    if (elements === 0) {
      throw new HeaderError('Empty dataset.');
    }
    return { elements };
  } catch (err) {
    if (err instanceof CorruptData) {
      throw new HeaderError(err.message);
    }
    throw err;
  } finally {
    await src.close();
  }
}
