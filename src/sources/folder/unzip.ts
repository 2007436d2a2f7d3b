//! Safe extraction of a .zip dropped into the import folder: size and count limits, no escapes, no links.
// Staff drop whatever their workstation produced, and a zip is attacker-shaped input: names can
// climb out of the destination (`../`, `/etc/x`, `C:\x`), entries can be symlinks, and headers can
// lie about sizes (zip bombs). We refuse the whole archive only when it is unreadable or too big,
// and skip single bad entries so one odd file does not block a study.
//
// yauzl is opened with decodeStrings: false on purpose: with true it validates every name itself
// and fails the *whole archive* on the first `../` entry, while we want to skip just that entry.
// We decode names with yauzl's own getFileNameLowLevel (CP437/UTF-8/Info-ZIP unicode path) and
// apply the same checks per entry.
import { mkdir, realpath, rm, stat, type FileHandle } from 'node:fs/promises';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { crc32 } from 'node:zlib';
import { getFileNameLowLevel, openPromise, type Entry, type ZipFile } from 'yauzl';
import type { SpaceReservation } from '../../contracts/component.ts';
import { createTarget, removeCreated, type Layout } from './zip-output.ts';
import { refuse, safeParts, S_IFDIR, S_IFMT } from './zip-entry.ts';

export interface ZipLimits {
  /** Most entries (files, directories, anything) the central directory may list. */
  readonly maxEntries: number;
  /** Most bytes the archive may expand to, both as declared and as actually inflated (null: no cap of its own). */
  readonly maxExpandedBytes?: number | null;
  /**
   * Most times its own size the archive may expand to (declared); real DICOM compresses a few
   * times, a zip bomb a thousand. Absent: no ratio check.
   */
  readonly maxRatio?: number;
  /**
   * Takes the space the declared expansion needs before anything is written (the caller's
   * DiskSpace); null refuses: the archive is not extracted now (ZipNoSpace) and may be tried later.
   */
  readonly reserve?: (bytes: number) => SpaceReservation | ZipNoSpace;
  /** Stops the extraction (shutdown): what was written is removed and AbortError is thrown. */
  readonly signal?: AbortSignal;
}

export interface ExtractedFile {
  /** Path under destDir, '/'-separated: the sanitised archive name, with a ` (n)` suffix when it was a duplicate. */
  readonly rel: string;
  readonly abs: string;
  readonly size: number;
}

export interface SkippedEntry {
  /** The entry's name as stored in the archive (backslashes turned into '/'); not safe as a path. */
  readonly rel: string;
  readonly reason: string;
}

export interface ZipResult {
  readonly files: ExtractedFile[];
  readonly skipped: SkippedEntry[];
}

/** The whole archive is refused; the message is a human reason without entry names. */
export class ZipRejected extends Error {
  override readonly name = 'ZipRejected';
}

/** Not enough free space to unpack the archive now; nothing was written. Worth trying again later. */
export class ZipNoSpace extends Error {
  override readonly name = 'ZipNoSpace';
}

/** Extracts every regular-file entry of `zipPath` under `destDir` (created, must not escape). */
export async function extractZip(zipPath: string, destDir: string, limits: ZipLimits): Promise<ZipResult> {
  const zip = await openZip(zipPath);
  try {
    // entryCount comes from the end-of-central-directory record, so this check costs nothing and
    // bounds the memory the entry list below can take.
    if (zip.entryCount > limits.maxEntries) {
      throw new ZipRejected(`${String(zip.entryCount)} entries exceed the limit of ${String(limits.maxEntries)}`);
    }
    const entries = await readEntries(zip);
    // Checked before anything is written, from the central directory; the inflating meter below
    // holds the archive to what it declared, so lying headers cannot write more.
    const declared = entries.reduce((sum, e) => sum + e.uncompressedSize, 0);
    const max = limits.maxExpandedBytes ?? null;
    if (max !== null && declared > max) {
      throw new ZipRejected(
        `declared expanded size of ${String(declared)} bytes exceeds the limit of ${String(max)} bytes`,
      );
    }
    if (limits.maxRatio !== undefined) {
      const size = (await stat(zipPath)).size;
      if (declared > limits.maxRatio * Math.max(size, 1)) {
        throw new ZipRejected(
          `expands to ${String(declared)} bytes, ${String(Math.round(declared / Math.max(size, 1)))} times its own ${String(size)} bytes (limit folder.maxZipRatio ${String(limits.maxRatio)}); a zip bomb or not DICOM`,
        );
      }
    }
    limits.signal?.throwIfAborted();
    const space = limits.reserve?.(declared);
    if (space instanceof ZipNoSpace) {
      throw space;
    }
    try {
      return await extractEntries(zip, entries, destDir, {
        budget: { left: declared, limit: declared },
        space,
        signal: limits.signal,
      });
    } finally {
      // Every byte written is on disk (or removed): the reservation has nothing left to hold.
      space?.release();
    }
  } finally {
    // autoClose is off so the file stays open between listing the entries and reading them.
    zip.close();
  }
}

async function openZip(zipPath: string): Promise<ZipFile> {
  try {
    return await openPromise(zipPath, {
      lazyEntries: true,
      autoClose: false,
      decodeStrings: false,
      validateEntrySizes: true,
      strictFileNames: false,
    });
  } catch (err) {
    throw asRejection(err);
  }
}

function readEntries(zip: ZipFile): Promise<Entry[]> {
  return new Promise((resolve, reject) => {
    const entries: Entry[] = [];
    zip.on('entry', (entry: Entry) => {
      entries.push(entry);
      zip.readEntry();
    });
    zip.once('end', () => {
      resolve(entries);
    });
    // `on`, not `once`: an unhandled later 'error' (closing the fd) would crash the daemon.
    zip.on('error', (err: unknown) => {
      reject(asRejection(err));
    });
    zip.readEntry();
  });
}

/** An I/O failure reading the file is ours to report as is; anything yauzl complains about is the archive's fault. */
function asRejection(err: unknown): Error {
  if (isSystemError(err)) {
    return err;
  }
  return new ZipRejected(`not a valid zip archive: ${messageOf(err)}`, { cause: err });
}

/** What extractEntries writes under: the byte budget, the space reservation, the stop signal. */
interface Extraction {
  readonly budget: Budget;
  readonly space: SpaceReservation | undefined;
  readonly signal: AbortSignal | undefined;
}

async function extractEntries(zip: ZipFile, entries: Entry[], destDir: string, x: Extraction): Promise<ZipResult> {
  await mkdir(destDir, { recursive: true, mode: 0o750 });
  // Compare against the real path so a destDir reached through a symlink still contains its files.
  const base = await realpath(destDir);
  const files: ExtractedFile[] = [];
  const skipped: SkippedEntry[] = [];
  const layout: Layout = { base, dirs: new Set(), nextSuffix: new Map(), created: [] };
  const { budget } = x;
  try {
    for (const entry of entries) {
      x.signal?.throwIfAborted();
      const name = getFileNameLowLevel(entry.generalPurposeBitFlag, entry.fileNameRaw, entry.extraFields, false);
      const type = (entry.externalFileAttributes >>> 16) & S_IFMT;
      if (name.endsWith('/') || type === S_IFDIR) {
        continue;
      }
      const parts = safeParts(name);
      if (typeof parts === 'string') {
        skipped.push({ rel: name, reason: parts });
        continue;
      }
      const refusal = refuse(entry, type);
      if (refusal !== null) {
        skipped.push({ rel: name, reason: refusal });
        continue;
      }
      // The file comes first: yauzl starts inflating as soon as the read stream exists, and its
      // size check could fail before anything listens for the error.
      const target = await createTarget(layout, parts);
      if (typeof target === 'string') {
        skipped.push({ rel: name, reason: target });
        continue;
      }
      const copied = await copyEntry(zip, entry, target.fh, budget, x.signal);
      x.space?.landed(typeof copied === 'number' ? copied : 0);
      if (typeof copied === 'string') {
        // Half an entry is no use to anyone; the bytes it inflated still count against the budget.
        await rm(target.abs, { force: true });
        skipped.push({ rel: name, reason: `corrupt entry: ${copied}` });
        continue;
      }
      files.push({ rel: target.rel, abs: target.abs, size: copied });
    }
  } catch (err) {
    // A refusal (or I/O failure) halfway leaves destDir as we found it.
    await removeCreated(layout.created);
    throw err;
  }
  return { files, skipped };
}

/**
 * Streams one entry into `fh` (which it closes); returns the bytes written, or why the entry is
 * corrupt. Refusals of the whole archive and I/O failures are thrown.
 */
async function copyEntry(
  zip: ZipFile,
  entry: Entry,
  fh: FileHandle,
  budget: Budget,
  signal: AbortSignal | undefined,
): Promise<number | string> {
  let source: Readable;
  try {
    source = await zip.openReadStreamPromise(entry);
  } catch (err) {
    await fh.close();
    if (isSystemError(err)) {
      throw err;
    }
    return messageOf(err);
  }
  source.on('error', () => {
    // The pipeline reports the first error. yauzl also emits errors on this stream by hand (zlib's,
    // forwarded with setImmediate), outside the stream's own state; listening for the stream's
    // whole life means a late one can never become an unhandled 'error' that kills the daemon.
  });
  const m = meter(entry, budget);
  try {
    await pipeline(source, m.stream, fh.createWriteStream(), ...(signal ? [{ signal }] : []));
  } catch (err) {
    if (err instanceof ZipRejected || isSystemError(err) || signal?.aborted) {
      throw signal?.aborted ? signal.reason : err;
    }
    return messageOf(err);
  }
  return m.bytes();
}

/** What is left of maxExpandedBytes for the rest of the archive. */
interface Budget {
  left: number;
  readonly limit: number;
}

/**
 * Counts the bytes actually inflated (headers can lie; yauzl's own size check is per entry) against
 * the archive's budget, and checks the CRC-32, which yauzl does not.
 */
function meter(entry: Entry, budget: Budget): { stream: Transform; bytes: () => number } {
  let bytes = 0;
  let crc = 0;
  const stream = new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, done: TransformCallback) {
      bytes += chunk.length;
      budget.left -= chunk.length;
      if (budget.left < 0) {
        done(new ZipRejected(`inflates to more than the ${String(budget.limit)} bytes its central directory declares`));
        return;
      }
      crc = crc32(chunk, crc);
      done(null, chunk);
    },
    flush(done: TransformCallback) {
      done(crc === entry.crc32 ? null : new Error('CRC-32 mismatch'));
    },
  });
  return { stream, bytes: () => bytes };
}

function isSystemError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
