//! Writes one arriving instance into a pre-created spool slot while it streams in.
// The slot's directory entry is already durable (slots.ts), so at the end only the file's own
// data needs an fsync. The dataset is checked whole and the Study/Series UIDs read from an
// in-memory copy when it is small (no second read of the file), otherwise from the file.
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Header } from '../dicom/read.ts';
import { validateDataset } from '../dicom/validate.ts';
import { encodingOf } from '../dicom/transfer-syntax.ts';
import type { Slot, SlotPool } from './slots.ts';

/** Largest dataset prefix kept in memory for reading the header without touching the file. */
export const MAX_PREFIX_BYTES = 1024 * 1024;

export interface SpooledFile {
  readonly header: Header;
  /** Whether the dataset holds pixel data at its top level. */
  readonly pixelData: boolean;
  /** Path relative to the spool directory. */
  readonly rel: string;
  readonly abs: string;
}

export interface SpoolWriter {
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** Ends the file (fsynced), checks the whole dataset and reads its header. Throws on I/O errors and HeaderError for a malformed dataset. */
  close(): Promise<SpooledFile>;
  /** Removes whatever was written. Idempotent. */
  discard(): Promise<void>;
}

export function createSpoolWriter(pool: SlotPool, partTenHeader: Buffer, transferSyntaxUid: string): SpoolWriter {
  const fromPrefix = encodingOf(transferSyntaxUid)?.deflated === false;
  const prefix: Buffer[] = [];
  let prefixLen = 0;
  let total = 0;
  let slot: Slot | null = null;
  let out: WriteStream | null = null;
  let error: Error | null = null;
  let pending: Buffer[] = [];
  let discarded = false;

  function open(s: Slot): void {
    slot = s;
    // flush: true makes close() fsync the file before 'close' fires.
    out = createWriteStream(s.abs, { flush: true, highWaterMark: 1 << 20 });
    out.on('error', (err) => (error ??= err));
    out.write(partTenHeader);
    for (const c of pending) {out.write(c);}
    pending = [];
  }

  const immediate = pool.takeSync();
  let opened: Promise<void>;
  if (immediate) {
    open(immediate);
    opened = Promise.resolve();
  } else {
    opened = pool.take().then(
      (s) => {
        if (discarded) {void rm(s.abs, { force: true });}
        else {open(s);}
      },
      (err: unknown) => {
        error ??= err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  return {
    write(chunk) {
      total += chunk.length;
      if (fromPrefix && prefixLen < MAX_PREFIX_BYTES) {
        prefix.push(chunk);
        prefixLen += chunk.length;
      }
      if (out) {return out.write(chunk);}
      pending.push(chunk); // only while the pool is refilling: bounded by one batch creation
      return true;
    },
    drained() {
      const s = out;
      return new Promise<void>((resolve) => {
        if (s?.writableNeedDrain && !s.destroyed) {s.once('drain', resolve).once('close', resolve);}
        else {resolve();}
      });
    },
    async close() {
      await opened;
      const s = out;
      if (!s || !slot) {throw error ?? new Error('No spool slot was opened.');}
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.end(() => { resolve(); });
      });
      await new Promise<void>((resolve) => {
        if (s.closed) {resolve();}
        else {s.once('close', () => { resolve(); });}
      });
      if (error) {throw error;}
      // The whole dataset is parsed before anyone is told Success (dicom/validate.ts): from the
      // in-memory prefix when it holds all of it, otherwise from the file.
      const whole = fromPrefix && total === prefixLen ? Buffer.concat(prefix, prefixLen) : null;
      const { header, pixelData } = await validateDataset({ whole, path: slot.abs, datasetOffset: partTenHeader.length, transferSyntaxUid });
      return { header, pixelData, rel: slot.rel, abs: slot.abs };
    },
    async discard() {
      discarded = true;
      pending = [];
      if (out && !out.destroyed) {out.destroy();}
      // A used slot is not returned to the pool: its content is no longer known to be empty.
      if (slot) {await rm(slot.abs, { force: true });}
    },
  };
}
