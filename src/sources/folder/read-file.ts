//! Hands one file of a drop to the intake: recognise, check it is whole, stream it into the spool.
// The file is compared with the scan that declared the drop stable before and after it is read:
// a file that changed or vanished meanwhile makes the drop wait again instead of failing it.
import { access, open, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Stats } from 'node:fs';
import { checkComplete, checkCompleteBuffer } from '../../dicom/complete.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { EndOfData, readStart } from '../../dicom/byte-source.ts';
import { readDicomdirReferences } from '../../dicom/dicomdir.ts';
import { sniffFile, sniffHead } from '../../dicom/sniff.ts';
import type { Sniffed } from '../../dicom/sniffed.ts';
import { encodingOf } from '../../dicom/transfer-syntax.ts';
import { ErrorCode } from '../../errors.ts';
import { safeError } from './safe-error.ts';
import type { IncomingInstance } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';

export type FileResult =
  | { readonly kind: 'spooled'; readonly outcome: 'stored' | 'duplicate' | 'replaced'; readonly instanceId: number }
  /** Read but deliberately not ingested (DICOMDIR). */
  | { readonly kind: 'ignored'; readonly reason: string }
  | { readonly kind: 'rejected'; readonly code: ErrorCode; readonly reason: string }
  /** The file changed or vanished since the stable scan: the drop must wait again. */
  | { readonly kind: 'changed'; readonly reason: string }
  /** Permission denied, I/O error, locked: tried again later, rejected after `readAttempts`. */
  | { readonly kind: 'unreadable'; readonly reason: string }
  /** The intake refused for now (disk low, database busy): tried again, never rejected for it. */
  | { readonly kind: 'retry'; readonly reason: string };

export interface FileToRead {
  readonly abs: string;
  /** The real path when a name in it is not valid UTF-8 (see ScannedFile.raw). */
  readonly raw?: Buffer;
  readonly size: number;
  readonly mtimeMs: number;
}

export interface ReadContext {
  readonly intake: Intake;
  readonly associationUid: string;
  /** Drop name and relative path, recorded on the instance row. */
  readonly origin: string;
}

const READ_CHUNK = 1024 * 1024;
/**
 * Files up to this size are read once into memory and recognised, checked and spooled from that
 * one buffer (one open, one read); bigger ones are streamed. Most DICOM files (CT, MR slices) are
 * well below it; memory stays bounded by `concurrency` × this.
 */
export const WHOLE_READ_BYTES = 4 * 1024 * 1024;

/** Why an I/O error happened, in the words rejected.json uses. */
export function ioProblem(err: unknown): FileResult {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  switch (code) {
    case 'ENOENT':
    case 'ENOTDIR':
    case 'ESTALE':
      return { kind: 'changed', reason: 'file vanished while being read' };
    case 'EACCES':
    case 'EPERM':
      return { kind: 'unreadable', reason: `unreadable: permission denied (${code})` };
    case 'EIO':
      return { kind: 'unreadable', reason: 'unreadable: I/O error (EIO)' };
    case 'EBUSY':
    case 'ETXTBSY':
    case 'EAGAIN':
      return { kind: 'unreadable', reason: `unreadable: file is locked (${code})` };
    default:
      return { kind: 'unreadable', reason: `unreadable: ${code || safeError(err).message}` };
  }
}

const sameFile = (st: Stats, f: FileToRead): boolean => st.size === f.size && Math.trunc(st.mtimeMs) === f.mtimeMs;

async function streamInto(fh: FileHandle, from: number, incoming: IncomingInstance): Promise<void> {
  const stream = fh.createReadStream({ start: from, highWaterMark: READ_CHUNK, autoClose: false });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (!incoming.write(chunk)) {
      await incoming.drained();
    }
  }
}

/**
 * A DICOMDIR is an index, not an instance: the files it lists are read like any other file of the
 * drop. Saying how many it lists that are not there tells an operator a CD was copied only in part.
 */
async function describeDicomdir(path: string): Promise<string> {
  let refs: string[];
  try {
    refs = await readDicomdirReferences(path);
  } catch {
    return 'DICOMDIR (index not readable; the files of the drop are read as instances)';
  }
  const base = dirname(path);
  let missing = 0;
  for (const ref of refs) {
    // File IDs are upper case on the medium; copies are sometimes lower-cased.
    const found = await access(join(base, ...ref.split('/'))).then(
      () => true,
      () =>
        access(join(base, ...ref.toLowerCase().split('/'))).then(
          () => true,
          () => false,
        ),
    );
    if (!found) {
      missing++;
    }
  }
  return `DICOMDIR: an index listing ${String(refs.length)} files${missing ? `, ${String(missing)} of them not in the drop` : ''} (the files are read as instances)`;
}

/** "DICM" at 128, and where the meta group says it ends ((0002,0000) group length), if it says. */
async function dicmMarker(fh: FileHandle): Promise<{ metaEnd: number | null } | null> {
  const b = Buffer.alloc(16);
  const { bytesRead } = await fh.read(b, 0, 16, 128);
  if (bytesRead < 4 || b.toString('latin1', 0, 4) !== 'DICM') {
    return null;
  }
  const hasLength = bytesRead === 16 && b.readUInt32LE(4) === 0x00000002 && b.toString('latin1', 8, 10) === 'UL';
  return { metaEnd: hasLength ? 144 + b.readUInt32LE(12) : null };
}

/** Reads `f` into the spool. Never throws for problems with the file itself: they are results. */
export async function readInstanceFile(f: FileToRead, ctx: ReadContext): Promise<FileResult> {
  let fh: FileHandle;
  try {
    fh = await open(f.raw ?? f.abs, 'r');
  } catch (err) {
    return ioProblem(err);
  }
  let incoming: IncomingInstance | null = null;
  // The readers below take a path; a name that is not UTF-8 has no string path, but its open
  // descriptor has one (Linux /proc), which reads the same file.
  const path = f.raw ? `/proc/self/fd/${String(fh.fd)}` : f.abs;
  try {
    if (!sameFile(await fh.stat(), f)) {
      return { kind: 'changed', reason: 'file changed after the drop looked stable' };
    }
    const whole = f.size <= WHOLE_READ_BYTES ? await readStart(fh, f.size) : null;
    if (whole && whole.length !== f.size) {
      return { kind: 'changed', reason: 'file changed while being read' };
    }
    // A deflated dataset without UIDs in its meta needs the file (the head alone cannot be inflated).
    let sniffed: Sniffed = whole ? await sniffHead(whole, true) : await sniffFile(path);
    if (whole && sniffed.kind === 'not-dicom' && /deflate/i.test(sniffed.reason)) {
      sniffed = await sniffFile(path);
    }
    if (sniffed.kind === 'not-dicom' || sniffed.kind === 'invalid') {
      // "DICM" at byte 128 but no usable meta or UIDs: a DICOM file, cut short or broken, which
      // must be kept whatever `nonDicom` says.
      const marker = f.size >= 132 ? await dicmMarker(fh) : null;
      if (sniffed.kind === 'invalid' && !marker) {
        return {
          kind: 'rejected',
          code: ErrorCode.DICOM_UNPARSABLE,
          reason: `DICOM file cannot be used: ${sniffed.reason}`,
        };
      }
      if (marker) {
        return marker.metaEnd !== null && marker.metaEnd > f.size
          ? {
              kind: 'rejected',
              code: ErrorCode.FOLDER_TRUNCATED,
              reason: `truncated DICOM file: the file meta information needs ${String(marker.metaEnd)} bytes, the file has ${String(f.size)}`,
            }
          : {
              kind: 'rejected',
              code: ErrorCode.DICOM_UNPARSABLE,
              reason: `DICOM file cannot be parsed: ${sniffed.reason}`,
            };
      }
      return {
        kind: 'rejected',
        code: ErrorCode.FOLDER_NOT_DICOM,
        reason: /^not DICOM/i.test(sniffed.reason) ? sniffed.reason : `not DICOM: ${sniffed.reason}`,
      };
    }
    if (sniffed.kind === 'dicomdir') {
      return {
        kind: 'ignored',
        reason: f.raw ? 'DICOMDIR (the files of the drop are read as instances)' : await describeDicomdir(f.abs),
      };
    }
    const inMemory = whole !== null && encodingOf(sniffed.transferSyntaxUid)?.deflated === false;
    try {
      if (inMemory) {
        await checkCompleteBuffer(whole.subarray(sniffed.datasetOffset), sniffed.transferSyntaxUid);
      } else {
        await checkComplete(path, sniffed.datasetOffset, sniffed.transferSyntaxUid);
      }
    } catch (err) {
      if (!(err instanceof EndOfData) && !(err instanceof HeaderError)) {
        throw err;
      }
      // A file still growing would be "truncated" too: only a file unchanged since the stable
      // scan is really cut short.
      if (!sameFile(await fh.stat(), f)) {
        return { kind: 'changed', reason: 'file changed after the drop looked stable' };
      }
      return err instanceof EndOfData
        ? { kind: 'rejected', code: ErrorCode.FOLDER_TRUNCATED, reason: `truncated DICOM file: ${err.message}` }
        : { kind: 'rejected', code: ErrorCode.DICOM_UNPARSABLE, reason: `DICOM file cannot be parsed: ${err.message}` };
    }
    const admission = await ctx.intake.admission();
    if (!admission.ok) {
      return { kind: 'retry', reason: admission.message };
    }
    incoming = ctx.intake.begin({
      source: 'folder',
      sopClassUid: sniffed.sopClassUid,
      sopInstanceUid: sniffed.sopInstanceUid,
      transferSyntaxUid: sniffed.transferSyntaxUid,
      callingAe: '',
      calledAe: '',
      peerIp: '',
      associationUid: ctx.associationUid,
      origin: ctx.origin,
    });
    if (whole) {
      if (!incoming.write(whole.subarray(sniffed.datasetOffset))) {
        await incoming.drained();
      }
    } else {
      await streamInto(fh, sniffed.datasetOffset, incoming);
    }
    const after = await fh.stat();
    if (!sameFile(after, f) || incoming.bytesWritten !== f.size - sniffed.datasetOffset) {
      await incoming.abort();
      return { kind: 'changed', reason: 'file changed while being read' };
    }
    const r = await incoming.finish();
    incoming = null;
    if (r.ok) {
      return { kind: 'spooled', outcome: r.outcome, instanceId: r.instanceId };
    }
    return r.retryable
      ? { kind: 'retry', reason: `${r.code}: ${r.message}` }
      : { kind: 'rejected', code: r.code, reason: r.message };
  } catch (err) {
    await incoming?.abort();
    return ioProblem(err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
