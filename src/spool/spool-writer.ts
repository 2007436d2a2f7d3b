//! Writes one arriving instance into a pre-created spool slot while it streams in.
// The slot's directory entry is already durable (slots.ts), so at the end only the file's own
// data needs an fsync. The Study/Series UIDs are read from an in-memory prefix of the dataset when
// possible (no second read of the file), otherwise from the file once it is complete.
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { readHeader, readHeaderPrefix, type Header } from '../dicom/read.ts';
import { encodingOf } from '../dicom/transfer-syntax.ts';
import type { Slot, SlotPool } from './slots.ts';

/** Largest dataset prefix kept in memory for reading the header without touching the file. */
export const MAX_PREFIX_BYTES = 1024 * 1024;

export interface SpooledFile {
  readonly header: Header;
  /** Path relative to the spool directory. */
  readonly rel: string;
  readonly abs: string;
}

export interface SpoolWriter {
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** Ends the file (fsynced) and reads its header. Throws on I/O or header errors. */
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
      const complete = total === prefixLen;
      const header =
        (fromPrefix ? await readHeaderPrefix(Buffer.concat(prefix), transferSyntaxUid, complete) : null) ??
        (await readHeader(slot.abs, partTenHeader.length, transferSyntaxUid));
      return { header, rel: slot.rel, abs: slot.abs };
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
