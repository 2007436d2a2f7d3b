//! Entries of an uploaded archive (zip, tar, tar.gz), streamed one at a time; nested archives are recursed, as DicomZipImporter does.
import { createReadStream, createWriteStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { openPromise } from 'yauzl';
import { tempName } from './upload.ts';

export type Format = 'ZIP' | 'TAR' | 'TGZ' | 'UNKNOWN';

/** org.nrg.xft.utils.fileExtraction.Format.getFormat: decided by the file name only. */
export function formatOf(name: string): Format {
  const n = name.toLowerCase();
  if (n.endsWith('.zip')) {
    return 'ZIP';
  }
  if (n.endsWith('.tar.gz') || n.endsWith('.tgz')) {
    return 'TGZ';
  }
  return n.endsWith('.tar') ? 'TAR' : 'UNKNOWN';
}

export interface ArchiveEntry {
  /** The entry's path inside the archive. */
  readonly name: string;
  /** Must be consumed before the next entry is requested. */
  readonly stream: Readable;
}

async function spoolStream(stream: Readable, dir: string): Promise<string> {
  const path = tempName(dir, 'nested');
  await pipeline(stream, createWriteStream(path));
  return path;
}

async function* zipEntries(path: string, dir: string): AsyncGenerator<ArchiveEntry> {
  const zip = await openPromise(path, { lazyEntries: true, autoClose: false, strictFileNames: false });
  try {
    for await (const entry of zip.eachEntry()) {
      if (entry.fileName.endsWith('/')) {
        continue;
      }
      const stream = await zip.openReadStreamPromise(entry);
      yield* entryOrNested(entry.fileName, stream, dir);
    }
  } finally {
    zip.close();
  }
}

function tarString(block: Buffer, from: number, length: number): string {
  const raw = block.subarray(from, from + length);
  const nul = raw.indexOf(0);
  return raw.toString('utf8', 0, nul < 0 ? raw.length : nul);
}

/** A ustar/GNU/pax tar read block by block; long names from `L` and pax `path=` records are honoured. */
async function* tarEntries(path: string, dir: string): AsyncGenerator<ArchiveEntry> {
  const fh = await open(path, 'r');
  try {
    let offset = 0;
    let longName: string | null = null;
    for (;;) {
      const header = Buffer.alloc(512);
      const { bytesRead } = await fh.read(header, 0, 512, offset);
      if (bytesRead < 512 || header.every((b) => b === 0)) {
        return;
      }
      const size = parseInt(tarString(header, 124, 12).trim() || '0', 8);
      const type = String.fromCharCode(header[156] ?? 0);
      const prefix = tarString(header, 257, 6) === 'ustar' ? tarString(header, 345, 155) : '';
      const name = longName ?? (prefix ? `${prefix}/${tarString(header, 0, 100)}` : tarString(header, 0, 100));
      const dataAt = offset + 512;
      offset = dataAt + Math.ceil(size / 512) * 512;
      if (type === 'L' || type === 'x') {
        const body = Buffer.alloc(size);
        await fh.read(body, 0, size, dataAt);
        longName =
          type === 'L'
            ? tarString(body, 0, size)
            : (/(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1] ?? null);
        continue;
      }
      longName = null;
      if (type !== '0' && type !== '\0' && type !== '7') {
        continue;
      }
      const stream = size > 0 ? createReadStream(path, { start: dataAt, end: dataAt + size - 1 }) : Readable.from([]);
      yield* entryOrNested(name, stream, dir);
    }
  } finally {
    await fh.close();
  }
}

async function* entryOrNested(name: string, stream: Readable, dir: string): AsyncGenerator<ArchiveEntry> {
  if (formatOf(name) === 'UNKNOWN') {
    yield { name, stream };
    return;
  }
  yield* archiveEntries(await spoolStream(stream, dir), formatOf(name), dir);
}

/** Every file entry of the archive at `path`, depth first. Throws when the archive is unreadable. */
export async function* archiveEntries(
  path: string,
  format: Exclude<Format, 'UNKNOWN'> | Format,
  dir: string,
): AsyncGenerator<ArchiveEntry> {
  switch (format) {
    case 'ZIP':
      yield* zipEntries(path, dir);
      return;
    case 'TAR':
      yield* tarEntries(path, dir);
      return;
    case 'TGZ': {
      const tar = tempName(dir, 'gunzipped');
      await pipeline(createReadStream(path), createGunzip(), createWriteStream(tar));
      yield* tarEntries(tar, dir);
      return;
    }
    case 'UNKNOWN':
      throw new Error('Unsupported format UNKNOWN');
  }
}
