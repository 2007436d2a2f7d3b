//! Reading a dataset's header (everything before the top-level pixel data) without reading the file whole.
// A 1 GB enhanced multi-frame instance has a header of a few hundred kilobytes: read a little,
// parse in partial mode, read more while the header runs past what was read. Shared by the routing
// reader and the de-identification reader of big files.
import { createReadStream } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { createInflateRaw } from 'node:zlib';
import { parseDataset, type ParsedDataset } from './dataset.ts';
import { HeaderError, PIXEL_DATA } from './elements.ts';
import type { DatasetEncoding } from './transfer-syntax.ts';

/** The largest header (before the pixel data) accepted. */
export const MAX_HEADER_BYTES = 64 * 1024 * 1024;

/** The dataset's first bytes, decoded: `all` when they are the whole dataset. */
export interface HeadSource {
  read(n: number): Promise<{ bytes: Buffer; all: boolean }>;
  close(): void;
}

export function plainHead(fh: FileHandle, offset: number, size: number): HeadSource {
  return {
    async read(n) {
      const length = Math.max(0, Math.min(n, size - offset));
      const bytes = Buffer.allocUnsafe(length);
      const { bytesRead } = await fh.read(bytes, 0, length, offset);
      return { bytes: bytes.subarray(0, bytesRead), all: length === size - offset };
    },
    close: () => undefined,
  };
}

export function deflatedHead(path: string, offset: number): HeadSource {
  const file = createReadStream(path, { start: offset });
  const inflater = createInflateRaw();
  file.on('error', (err) => inflater.destroy(err));
  file.pipe(inflater);
  const it = inflater[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let total = 0;
  let ended = false;
  return {
    async read(n) {
      while (!ended && total < n) {
        const r = await it.next().catch((err: unknown) => {
          const code = (err as NodeJS.ErrnoException).code ?? '';
          if (!code.startsWith('Z_')) {
            throw err;
          }
          throw new HeaderError(
            code === 'Z_BUF_ERROR' ? 'Deflated data was cut short.' : `Deflated data is corrupt (${code}).`,
          );
        });
        if (r.done) {
          ended = true;
        } else {
          chunks.push(r.value);
          total += r.value.length;
        }
      }
      return { bytes: Buffer.concat(chunks), all: ended };
    },
    close() {
      inflater.destroy();
      file.destroy();
    },
  };
}

/** Parses everything before the top-level pixel data, reading more while the header runs past what was read. */
export async function parseHead(src: HeadSource, enc: DatasetEncoding, firstBytes = 64 * 1024): Promise<ParsedDataset> {
  for (let n = firstBytes; ; n *= 4) {
    const { bytes, all } = await src.read(Math.min(n, MAX_HEADER_BYTES));
    try {
      const ds = parseDataset(bytes, enc, true);
      // A read that ends exactly between two elements parses cleanly but is not the whole header.
      if (all || ds.elements.at(-1)?.tag === PIXEL_DATA) {
        return ds;
      }
    } catch (err) {
      if (!(err instanceof HeaderError) || all) {
        throw err;
      }
    }
    if (n >= MAX_HEADER_BYTES) {
      throw new HeaderError('Header larger than 64 MiB before the pixel data.');
    }
  }
}
