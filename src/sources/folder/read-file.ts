//! Hands one file of a drop to the intake: recognise, check it is whole, stream it into the spool.
// The file is compared with the scan that declared the drop stable before and after it is read:
// a file that changed or vanished meanwhile makes the drop wait again instead of failing it.
import { open, type FileHandle } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { checkComplete, HeaderError } from '../../dicom/read.ts';
import { EndOfData } from '../../dicom/byte-source.ts';
import { sniffFile } from '../../dicom/sniff.ts';
import { ErrorCode } from '../../errors.ts';
import type { IncomingInstance, Intake } from '../../pipeline/contracts.ts';

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
      return { kind: 'unreadable', reason: `unreadable: ${code || (err instanceof Error ? err.message : String(err))}` };
  }
}

const sameFile = (st: Stats, f: FileToRead): boolean => st.size === f.size && Math.trunc(st.mtimeMs) === f.mtimeMs;

async function streamInto(fh: FileHandle, from: number, incoming: IncomingInstance): Promise<void> {
  const stream = fh.createReadStream({ start: from, highWaterMark: READ_CHUNK, autoClose: false });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    if (!incoming.write(chunk)) {await incoming.drained();}
  }
}

/** "DICM" at 128, and where the meta group says it ends ((0002,0000) group length), if it says. */
async function dicmMarker(fh: FileHandle): Promise<{ metaEnd: number | null } | null> {
  const b = Buffer.alloc(16);
  const { bytesRead } = await fh.read(b, 0, 16, 128);
  if (bytesRead < 4 || b.toString('latin1', 0, 4) !== 'DICM') {return null;}
  const hasLength = bytesRead === 16 && b.readUInt32LE(4) === 0x00000002 && b.toString('latin1', 8, 10) === 'UL';
  return { metaEnd: hasLength ? 144 + b.readUInt32LE(12) : null };
}

/** Reads `f` into the spool. Never throws for problems with the file itself: they are results. */
export async function readInstanceFile(f: FileToRead, ctx: ReadContext): Promise<FileResult> {
  let fh: FileHandle;
  try {
    fh = await open(f.abs, 'r');
  } catch (err) {
    return ioProblem(err);
  }
  let incoming: IncomingInstance | null = null;
  try {
    if (!sameFile(await fh.stat(), f)) {return { kind: 'changed', reason: 'file changed after the drop looked stable' };}
    const sniffed = await sniffFile(f.abs);
    if (sniffed.kind === 'not-dicom') {
      // "DICM" at byte 128 but no usable meta or UIDs: a DICOM file, cut short or broken, which
      // must be kept whatever `nonDicom` says.
      const marker = f.size >= 132 ? await dicmMarker(fh) : null;
      if (marker) {
        return marker.metaEnd !== null && marker.metaEnd > f.size
          ? { kind: 'rejected', code: ErrorCode.FOLDER_TRUNCATED, reason: `truncated DICOM file: the file meta information needs ${String(marker.metaEnd)} bytes, the file has ${String(f.size)}` }
          : { kind: 'rejected', code: ErrorCode.DICOM_UNPARSABLE, reason: `DICOM file cannot be parsed: ${sniffed.reason}` };
      }
      return { kind: 'rejected', code: ErrorCode.FOLDER_NOT_DICOM, reason: sniffed.reason };
    }
    if (sniffed.kind === 'dicomdir') {return { kind: 'ignored', reason: 'DICOMDIR: an index, not an instance (the files it lists are read as instances)' };}
    try {
      await checkComplete(f.abs, sniffed.datasetOffset, sniffed.transferSyntaxUid);
    } catch (err) {
      if (!(err instanceof EndOfData) && !(err instanceof HeaderError)) {throw err;}
      // A file still growing would be "truncated" too: only a file unchanged since the stable
      // scan is really cut short.
      if (!sameFile(await fh.stat(), f)) {return { kind: 'changed', reason: 'file changed after the drop looked stable' };}
      return err instanceof EndOfData
        ? { kind: 'rejected', code: ErrorCode.FOLDER_TRUNCATED, reason: `truncated DICOM file: ${err.message}` }
        : { kind: 'rejected', code: ErrorCode.DICOM_UNPARSABLE, reason: `DICOM file cannot be parsed: ${err.message}` };
    }
    const admission = ctx.intake.admission();
    if (!admission.ok) {return { kind: 'retry', reason: admission.message };}
    incoming = ctx.intake.begin({
      source: 'folder', sopClassUid: sniffed.sopClassUid, sopInstanceUid: sniffed.sopInstanceUid,
      transferSyntaxUid: sniffed.transferSyntaxUid, callingAe: '', calledAe: '', peerIp: '',
      associationUid: ctx.associationUid, origin: ctx.origin,
    });
    await streamInto(fh, sniffed.datasetOffset, incoming);
    const after = await fh.stat();
    if (!sameFile(after, f) || incoming.bytesWritten !== f.size - sniffed.datasetOffset) {
      await incoming.abort();
      return { kind: 'changed', reason: 'file changed while being read' };
    }
    const r = await incoming.finish();
    incoming = null;
    if (r.ok) {return { kind: 'spooled', outcome: r.outcome, instanceId: r.instanceId };}
    return r.retryable ? { kind: 'retry', reason: `${r.code}: ${r.message}` } : { kind: 'rejected', code: r.code, reason: r.message };
  } catch (err) {
    await incoming?.abort();
    return ioProblem(err);
  } finally {
    await fh.close().catch(() => undefined);
  }
}
