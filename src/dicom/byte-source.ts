//! Forward-only byte sources over a file region, plain or deflated, with bounded buffering.
import { open, type FileHandle } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInflateRaw } from 'node:zlib';

/** Sequential reader: `read(n)` returns exactly n bytes or throws on end of data. */
export interface ByteSource {
  read(n: number): Promise<Buffer>;
  skip(n: number): Promise<void>;
  /** True when no byte is left (the data ended exactly here). */
  atEnd(): Promise<boolean>;
  /** Bytes consumed so far (decoded bytes for deflated sources). */
  readonly position: number;
  close(): Promise<void>;
}

export class EndOfData extends Error {
  override readonly name = 'EndOfData';
}

/** Compressed data that cannot be decoded. */
export class CorruptData extends Error {
  override readonly name = 'CorruptData';
}

const CHUNK = 64 * 1024;

interface ChunkProvider {
  /** The next chunk of at least one byte, or null at the end of the data. */
  next(wanted: number): Promise<Buffer | null>;
  /** Skips `n` bytes that are not buffered yet without reading them, when the medium can seek. */
  seek?(n: number): Promise<void>;
  close(): Promise<void>;
}

/** The buffering shared by the file and deflated sources: read/skip/atEnd over a chunk provider. */
function chunkedSource(p: ChunkProvider, label: string): ByteSource {
  let buf: Buffer = Buffer.alloc(0);
  let consumed = 0;
  async function fill(n: number): Promise<void> {
    while (buf.length < n) {
      const chunk = await p.next(n - buf.length);
      if (!chunk) {
        throw new EndOfData(`${label} ended after ${String(consumed + buf.length)} bytes.`);
      }
      buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    }
  }
  return {
    get position() {
      return consumed;
    },
    async read(n) {
      await fill(n);
      const out = buf.subarray(0, n);
      buf = buf.subarray(n);
      consumed += n;
      return out;
    },
    async skip(n) {
      if (n > buf.length && p.seek) {
        await p.seek(n - buf.length);
        buf = Buffer.alloc(0);
      } else {
        let left = n;
        while (left > 0) {
          await fill(Math.min(left, CHUNK));
          const take = Math.min(left, buf.length);
          buf = buf.subarray(take);
          left -= take;
        }
      }
      consumed += n;
    },
    async atEnd() {
      if (buf.length) {
        return false;
      }
      try {
        await fill(1);
        return false;
      } catch (err) {
        if (err instanceof EndOfData) {
          return true;
        }
        throw err;
      }
    },
    close: () => p.close(),
  };
}

/** A plain file region starting at `offset`; skips seek instead of reading. */
export async function fileSource(path: string, offset: number): Promise<ByteSource> {
  const fh: FileHandle = await open(path, 'r');
  let filePos = offset;
  return chunkedSource(
    {
      async next(wanted) {
        const chunk = Buffer.allocUnsafe(Math.max(CHUNK, wanted));
        const { bytesRead } = await fh.read(chunk, 0, chunk.length, filePos);
        filePos += bytesRead;
        return bytesRead ? chunk.subarray(0, bytesRead) : null;
      },
      async seek(n) {
        filePos += n;
        const { size } = await fh.stat();
        if (filePos > size) {
          throw new EndOfData('A value runs past the end of the file.');
        }
      },
      close: () => fh.close(),
    },
    'File',
  );
}

/** A deflated dataset (1.2.840.10008.1.2.1.99) starting at `offset`, inflated incrementally. */
export function deflatedSource(path: string, offset: number): ByteSource {
  const inflater = createReadStream(path, { start: offset }).pipe(createInflateRaw());
  const iterator = inflater[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  return chunkedSource(
    {
      async next() {
        const r = await iterator.next().catch((err: unknown) => {
          // zlib: Z_BUF_ERROR = the deflate stream was cut short; anything else = corrupt data.
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'Z_BUF_ERROR') {
            throw new EndOfData('Deflated data was cut short.');
          }
          throw new CorruptData(`Deflated data is corrupt (${code ?? String(err)}).`);
        });
        return r.done ? null : r.value;
      },
      close: async () => {
        inflater.destroy();
        await Promise.resolve();
      },
    },
    'Deflated data',
  );
}

/** An in-memory region; running past its end throws EndOfData. */
export function bufferSource(buf: Buffer): ByteSource {
  let pos = 0;
  /** The error for reading `n` more bytes, or null when they are there. */
  const shortage = (n: number): EndOfData | null =>
    pos + n > buf.length ? new EndOfData(`Buffer ended after ${String(buf.length)} bytes.`) : null;
  return {
    get position() {
      return pos;
    },
    read(n) {
      const err = shortage(n);
      if (err) {
        return Promise.reject(err);
      }
      const out = buf.subarray(pos, pos + n);
      pos += n;
      return Promise.resolve(out);
    },
    skip(n) {
      const err = shortage(n);
      if (err) {
        return Promise.reject(err);
      }
      pos += n;
      return Promise.resolve();
    },
    atEnd: () => Promise.resolve(pos >= buf.length),
    close: () => Promise.resolve(),
  };
}

/** The first `n` bytes of an open file (fewer when it is shorter), read with as few calls as the kernel allows. */
export async function readStart(fh: FileHandle, n: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(n);
  let got = 0;
  while (got < n) {
    const { bytesRead } = await fh.read(buf, got, n - got, got);
    if (!bytesRead) {
      break;
    }
    got += bytesRead;
  }
  return buf.subarray(0, got);
}
