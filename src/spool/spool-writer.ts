//! Writes one arriving instance to its final spool location while it streams in.
// The first bytes of a dataset hold its Study and Series UIDs, so we read them from a small
// in-memory prefix and create the file directly in its series directory. That lets us fsync the
// directory entry while the rest of the dataset is still arriving, instead of a rename and a
// directory fsync after it: one fewer serial fsync per acknowledged instance. Deflated datasets,
// or headers that do not fit the prefix, take the classic path: temp file → rename → fsync dir.
import { randomBytes, randomUUID } from 'node:crypto';
import { createWriteStream, mkdirSync, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { readHeader, readHeaderPrefix, type Header } from '../dicom/read.ts';
import { encodingOf } from '../dicom/transfer-syntax.ts';
import { ensureDirDurable, fsyncDir, fsyncNewDirs, renameDurable } from './fsync.ts';
import { isSafeUid, spoolRelPath, type Layout } from './layout.ts';

/** Largest dataset prefix held in memory while looking for the series UIDs. */
export const MAX_PREFIX_BYTES = 1024 * 1024;
const FIRST_ATTEMPT_BYTES = 4096;

export interface SpooledFile {
  readonly header: Header;
  /** Path relative to the spool directory. */
  readonly rel: string;
  readonly abs: string;
}

export interface SpoolWriter {
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** Ends the file: fsynced, its directory entry durable. Throws on I/O or header errors. */
  close(): Promise<SpooledFile>;
  /** Removes whatever was written. Idempotent. */
  discard(): Promise<void>;
}

function openStream(path: string): WriteStream {
  // flush: true makes close() fsync the file before 'close' fires.
  return createWriteStream(path, { flush: true, mode: 0o640, highWaterMark: 1 << 20 });
}

/** Creates the series directory if needed; returns a promise that makes the new file's entry durable. */
function prepareDir(dir: string, out: WriteStream): Promise<void> {
  const created = mkdirSync(dir, { recursive: true, mode: 0o750 });
  return new Promise<void>((resolve, reject) => {
    out.once('open', () => resolve()).once('error', reject);
  }).then(async () => {
    if (created !== undefined) await fsyncNewDirs(dir, created);
    await fsyncDir(dir);
  });
}

export function createSpoolWriter(layout: Layout, partTenHeader: Buffer, transferSyntaxUid: string, sopInstanceUid: string): SpoolWriter {
  const deflated = encodingOf(transferSyntaxUid)?.deflated ?? true;
  let prefix: Buffer[] = [];
  let prefixLen = 0;
  let nextAttempt = FIRST_ATTEMPT_BYTES;
  let parsing: Promise<void> | null = null;
  let out: WriteStream | null = null;
  let error: Error | null = null;
  let placed: { header: Header; rel: string; abs: string; dirDurable: Promise<void> } | null = null;
  let tmp: string | null = null;

  function open(path: string): WriteStream {
    const s = openStream(path);
    s.on('error', (err) => (error ??= err));
    s.write(partTenHeader);
    for (const c of prefix) s.write(c);
    prefix = [];
    return s;
  }

  function placeDirect(header: Header): void {
    const { StudyInstanceUID: study, SeriesInstanceUID: series } = header;
    if (!study || !series || !isSafeUid(study) || !isSafeUid(series) || !isSafeUid(sopInstanceUid)) {
      placeTemp(); // the header check at close reports the precise problem
      return;
    }
    const rel = spoolRelPath(study, series, sopInstanceUid, randomBytes(8).toString('hex'));
    const abs = join(layout.spoolDir, rel);
    const s = open(abs);
    const dirDurable = prepareDir(dirname(abs), s);
    dirDurable.catch(() => undefined); // awaited in close(); avoid an unhandled rejection meanwhile
    out = s;
    placed = { header, rel, abs, dirDurable };
  }

  function placeTemp(): void {
    tmp = join(layout.tmpDir, `${randomUUID()}.part`);
    out = open(tmp);
  }

  function attemptParse(complete: boolean): Promise<void> {
    const buf = Buffer.concat(prefix);
    return readHeaderPrefix(buf, transferSyntaxUid, complete).then(
      (h) => {
        if (out) return;
        if (h) placeDirect(h);
        else nextAttempt = prefixLen * 2;
      },
      () => {
        if (!out) placeTemp();
      },
    );
  }

  return {
    write(chunk) {
      if (out) return out.write(chunk);
      prefix.push(chunk);
      prefixLen += chunk.length;
      if (deflated || prefixLen > MAX_PREFIX_BYTES) {
        placeTemp();
        return true;
      }
      if (!parsing && prefixLen >= nextAttempt) {
        parsing = attemptParse(false).finally(() => (parsing = null));
      }
      return true;
    },
    drained() {
      const s = out;
      return new Promise<void>((resolve) => (s?.writableNeedDrain && !s.destroyed ? s.once('drain', resolve).once('close', resolve) : resolve()));
    },
    async close() {
      if (parsing) await parsing;
      if (!out) {
        if (deflated) placeTemp();
        else await attemptParse(true);
        if (!out) placeTemp();
      }
      const s = out as WriteStream | null;
      if (!s) throw new Error('Spool file was never opened.');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.end(() => resolve());
      });
      await new Promise<void>((resolve) => (s.closed ? resolve() : s.once('close', () => resolve())));
      if (error) throw error;
      if (placed) {
        await placed.dirDurable;
        return { header: placed.header, rel: placed.rel, abs: placed.abs };
      }
      const from = tmp ?? '';
      const header = await readHeader(from, partTenHeader.length, transferSyntaxUid);
      const { StudyInstanceUID: study = '', SeriesInstanceUID: series = '' } = header;
      if (!isSafeUid(study) || !isSafeUid(series) || !isSafeUid(sopInstanceUid)) return { header, rel: '', abs: from };
      const rel = spoolRelPath(study, series, sopInstanceUid, randomBytes(8).toString('hex'));
      const abs = join(layout.spoolDir, rel);
      await ensureDirDurable(dirname(abs));
      await renameDurable(from, abs);
      tmp = null;
      placed = { header, rel, abs, dirDurable: Promise.resolve() };
      return { header, rel, abs };
    },
    async discard() {
      prefix = [];
      if (out && !out.destroyed) out.destroy();
      const paths = [tmp, (placed as { abs: string } | null)?.abs].filter((p): p is string => !!p);
      await Promise.all(paths.map((p) => rm(p, { force: true })));
    },
  };
}
