//! Reading a DICOM file into a parsed dataset, and writing one back with a new File Meta Information.
// Files up to WHOLE_READ_BYTES are read whole. Bigger ones (enhanced multi-frame can exceed 1 GB)
// are read up to the top-level pixel data; its value is streamed from the input to the output and
// never held in memory, and anything after it (rare) is read and parsed on its own.
import { closeSync, createReadStream, createWriteStream, openSync } from 'node:fs';
import { open, rm, stat } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { HeaderError, ITEM, PIXEL_DATA, SEQ_END, UNDEFINED } from './elements.ts';
import { parseDataset, type ParsedDataset } from './dataset.ts';
import { chunksToBuffer, splitAtPixelData, writeDataset, type Chunk } from './dataset-write.ts';
import { encodingOf } from './transfer-syntax.ts';
import { parseHead, plainHead } from './dataset-head.ts';
import { fdReadFully, fdSize } from './fd-io.ts';
import { poolIo, type FileIo } from './io-thread.ts';

const WHOLE_READ_BYTES = 64 * 1024 * 1024;
/** Files up to this size are read in one call into a pooled buffer (a CT slice is 0.5 MB). */
const SMALL_FILE_BYTES = 4 * 1024 * 1024;

export interface DicomFile {
  readonly path: string;
  readonly transferSyntaxUid: string;
  /** The dataset (or, for a big file, everything before the top-level pixel data value). */
  readonly main: ParsedDataset;
  /** Big files only: the pixel data element's byte range in the input file, streamed verbatim. */
  readonly pixelRange: { readonly from: number; readonly to: number } | null;
  /** Big files only: elements after the pixel data, parsed separately. */
  readonly tail: ParsedDataset | null;
}

/**
 * Reusable read buffers for a run of instances. A fresh 0.5 MB buffer per file costs page faults
 * and zeroing in the kernel: measured, it doubled the system time of de-identifying a CT series.
 */
export interface BufferPool {
  acquire(size: number): Buffer;
  release(b: Buffer): void;
}

/** `shared`: pooled buffers are views of SharedArrayBuffers, for an I/O thread to read into (FileIo.shared). */
export function createBufferPool(shared = false, bufferBytes = SMALL_FILE_BYTES): BufferPool {
  const free: Buffer[] = [];
  return {
    acquire(size) {
      if (size > bufferBytes) {
        return Buffer.allocUnsafe(size);
      }
      return (
        free.pop() ?? (shared ? Buffer.from(new SharedArrayBuffer(bufferBytes)) : Buffer.allocUnsafeSlow(bufferBytes))
      );
    },
    release(b) {
      if (b.buffer.byteLength === bufferBytes && free.length < 16) {
        free.push(Buffer.from(b.buffer, 0, bufferBytes));
      }
    },
  };
}

/**
 * Reads the dataset of `path` that starts at `datasetOffset` and is encoded in `transferSyntaxUid`.
 * `size`, when known (the spool records it), saves the read that would confirm the end of a small file.
 * With a pool, small files are read by `io` into pooled buffers (shared ones for an I/O thread).
 */
export async function readDicomFile(
  path: string,
  o: { datasetOffset: number; transferSyntaxUid: string; size?: number | undefined },
  pool?: BufferPool,
  io: FileIo = poolIo,
): Promise<DicomFile> {
  const enc = encodingOf(o.transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${o.transferSyntaxUid}.`);
  }
  const small = await readSmall(path, pool, io, o.size);
  if (small) {
    return wholeFile(path, small, o, enc);
  }
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    if (enc.deflated || size <= WHOLE_READ_BYTES) {
      return wholeFile(path, await fh.readFile(), o, enc);
    }
    const main = await readHead(fh, o.datasetOffset, size, enc);
    const pixel = main.elements.at(-1);
    if (pixel?.tag !== PIXEL_DATA) {
      throw new HeaderError('No pixel data found in the first 64 MiB of a large file.');
    }
    let to = pixel.end;
    if (pixel.encapsulated || to < 0) {
      to = await fragmentsEnd(fh, o.datasetOffset, pixel.start, enc.littleEndian);
    }
    const pixelRange = { from: o.datasetOffset + pixel.start, to: o.datasetOffset + to };
    if (pixelRange.to > size) {
      throw new HeaderError('Pixel data runs past the end of the file.');
    }
    main.elements.pop();
    let tail: ParsedDataset | null = null;
    if (pixelRange.to < size) {
      const rest = Buffer.alloc(size - pixelRange.to);
      await fh.read(rest, 0, rest.length, pixelRange.to);
      tail = parseDataset(rest, enc);
    }
    return { path, transferSyntaxUid: o.transferSyntaxUid, main, pixelRange, tail };
  } finally {
    await fh.close();
  }
}

/**
 * The whole file when it is under SMALL_FILE_BYTES, else null. With a pool, one read into a pooled
 * buffer, a shorter read meaning the file ended (a fresh 0.5 MB buffer per file costs page faults
 * and zeroing in the kernel; measured, it doubled the system time of a CT series).
 */
async function readSmall(
  path: string,
  pool: BufferPool | undefined,
  io: FileIo,
  expected: number | undefined,
): Promise<Buffer | null> {
  if (pool) {
    const b = pool.acquire(SMALL_FILE_BYTES);
    const n = await io.readInto(path, b, expected);
    if (n < b.length) {
      return b.subarray(0, n);
    }
    pool.release(b);
    return null;
  }
  // Opening and closing run inline: microseconds on a spool file, against a thread-pool round trip.
  const fd = openSync(path, 'r');
  try {
    const size = await fdSize(fd);
    if (size >= SMALL_FILE_BYTES) {
      return null;
    }
    const b = Buffer.allocUnsafe(size);
    if ((await fdReadFully(fd, b, 0)) !== size) {
      throw new HeaderError('File changed size while it was read.');
    }
    return b;
  } finally {
    closeSync(fd);
  }
}

function wholeFile(
  path: string,
  whole: Buffer,
  o: { datasetOffset: number; transferSyntaxUid: string },
  enc: NonNullable<ReturnType<typeof encodingOf>>,
): DicomFile {
  let data = whole.subarray(o.datasetOffset);
  if (enc.deflated) {
    try {
      data = inflateRawSync(data);
    } catch (err) {
      throw new HeaderError(`Deflated dataset does not inflate: ${(err as Error).message}`);
    }
  }
  return { path, transferSyntaxUid: o.transferSyntaxUid, main: parseDataset(data, enc), pixelRange: null, tail: null };
}

/**
 * Parses everything before the top-level pixel data of a big file, reading 1 MiB first and more
 * while the header runs past what was read (a read ending exactly between elements is not taken
 * for the whole header).
 */
async function readHead(
  fh: Awaited<ReturnType<typeof open>>,
  offset: number,
  size: number,
  enc: NonNullable<ReturnType<typeof encodingOf>>,
): Promise<ParsedDataset> {
  return parseHead(plainHead(fh, offset, size), enc, 1024 * 1024);
}

/** Walks the fragment item headers of encapsulated pixel data in the file; returns the dataset offset after its delimiter (also used by validate.ts). */
export async function fragmentsEnd(
  fh: Awaited<ReturnType<typeof open>>,
  base: number,
  elementStart: number,
  le: boolean,
): Promise<number> {
  let pos = elementStart + 12;
  const h = Buffer.alloc(8);
  for (;;) {
    const { bytesRead } = await fh.read(h, 0, 8, base + pos);
    if (bytesRead < 8) {
      throw new HeaderError('Encapsulated pixel data is cut short.');
    }
    const tag =
      (((le ? h.readUInt16LE(0) : h.readUInt16BE(0)) << 16) | (le ? h.readUInt16LE(2) : h.readUInt16BE(2))) >>> 0;
    const length = le ? h.readUInt32LE(4) : h.readUInt32BE(4);
    pos += 8;
    if (tag === SEQ_END) {
      return pos;
    }
    if (tag !== ITEM || length === UNDEFINED) {
      throw new HeaderError('Malformed fragment in encapsulated pixel data.');
    }
    pos += length;
  }
}

/** The bytes of a parsed dataset after edits (pixel data of big files excluded). */
export function datasetBytes(ds: ParsedDataset): Buffer {
  return chunksToBuffer(writeDataset(ds), ds.source);
}

/** What was written, for verification: the header bytes only (the pixel data value is left out). */
export interface WrittenFile {
  readonly size: number;
  readonly meta: Buffer;
  /** The dataset before the top-level pixel data (uncompressed, also for deflated output). */
  readonly dataset: Buffer;
  /** Elements after the pixel data, if any. */
  readonly tail: Buffer | null;
}

/**
 * Writes `meta` (preamble + group 0002) and the edited dataset to `out`. The pixel data goes out
 * straight from the input buffer (a view, no copy); the header bytes written are the ones returned
 * for verification. Not atomic: callers write into a private directory that is used only once the
 * whole series is written and verified (the worker's per-attempt directory, the offline command's
 * work directory); a failed write removes its file.
 */
export async function writeDicomFile(
  file: DicomFile,
  meta: Buffer,
  out: string,
  io: FileIo = poolIo,
): Promise<WrittenFile> {
  const enc = encodingOf(file.transferSyntaxUid);
  const chunks: Chunk[] = writeDataset(file.main);
  const split = splitAtPixelData(chunks, file.main.source);
  const tailBytes = file.tail ? datasetBytes(file.tail) : split.after;
  let size: number;
  try {
    if (enc?.deflated) {
      const body = deflateRawSync(chunksToBuffer(chunks, file.main.source));
      size = await io.createFile(out, 0o640, [meta, body], []);
    } else if (file.pixelRange) {
      const range = file.pixelRange;
      const mainBytes = split.before;
      const tail = file.tail ? tailBytes : null;
      async function* parts(): AsyncGenerator<Buffer> {
        yield meta;
        yield mainBytes;
        for await (const chunk of createReadStream(file.path, {
          start: range.from,
          end: range.to - 1,
          highWaterMark: 1024 * 1024,
        })) {
          yield chunk as Buffer;
        }
        if (tail) {
          yield tail;
        }
      }
      await pipeline(Readable.from(parts()), createWriteStream(out, { mode: 0o640 }));
      size = (await stat(out)).size;
    } else {
      // The header and the pixel data in two calls, as gdcmanon writes them: one 0.5 MB write from
      // offset 0 gets large page-cache folios, and on a VM with free page reporting (virtio-balloon)
      // copying into them ran 10-15× slower, likely memory the host had to fault in again
      // (measured: ~1.3 s against ~0.05 s of copying for a 1,000-slice CT; docs/benchmarks.md).
      size = await io.createFile(
        out,
        0o640,
        [meta, split.before],
        split.pixel ? [split.pixel, ...(split.after ? [split.after] : [])] : [],
      );
    }
  } catch (err) {
    await rm(out, { force: true });
    throw err;
  }
  return { size, meta, dataset: split.before, tail: tailBytes };
}
