//! Writes one arriving instance into a pre-created spool slot while it streams in.
// The slot's directory entry is already durable (slots.ts), so at the end only the file's own
// data needs an fsync. The dataset is checked whole and the Study/Series UIDs read from an
// in-memory copy when it is small (no second read of the file), otherwise from the file. The
// fsync runs while the dataset is checked and its row committed (ADR 0013): close() returns once
// every byte reached the kernel, with the fsync's completion as `durable`.
import { createWriteStream, type WriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import type { Header } from '../dicom/read.ts';
import { validateDataset } from '../dicom/validate.ts';
import { encodingOf } from '../dicom/transfer-syntax.ts';
import { DaemonError, ErrorCode } from '../errors.ts';
import type { SpaceReservation } from './disk-space.ts';
import type { Slot, SlotPool } from './slots.ts';

/** Largest dataset prefix kept in memory for reading the header without touching the file. */
export const MAX_PREFIX_BYTES = 1024 * 1024;

/**
 * Reserved with every instance beyond its own bytes: block rounding of the file, and the instance
 * row, its index entries and their WAL frames (SQLite cannot reserve for itself).
 */
export const INSTANCE_OVERHEAD_BYTES = 16 * 1024;

/** Takes free space for one spool file (DiskSpace.reserve bound to the spool directory). */
export type ReserveSpace = (bytes: number) => SpaceReservation | null;

export interface SpooledFile {
  readonly header: Header;
  /** Whether the dataset holds pixel data at its top level. */
  readonly pixelData: boolean;
  /** Path relative to the spool directory. */
  readonly rel: string;
  readonly abs: string;
  /** Settles when the file's fsync and close have completed; rejects when either failed. Nobody
   *  may be told Success before it resolves. */
  readonly durable: Promise<void>;
}

export interface SpoolWriter {
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  /** Ends the file (its fsync started, see `durable`), checks the whole dataset and reads its header. Throws on I/O errors,
   *  HeaderError for a malformed dataset, and a DaemonError ERR_SPOOL_FULL when the disk had no
   *  room for it above the watermark. */
  close(): Promise<SpooledFile>;
  /** Removes whatever was written (also a slot still being created for it). Idempotent. */
  discard(): Promise<void>;
}

const noRoom = (): DaemonError =>
  new DaemonError(ErrorCode.SPOOL_FULL, 'Not enough free space above the watermark for this instance.', {
    stage: 'receiving',
    retryable: true,
  });

export function createSpoolWriter(
  pool: SlotPool,
  partTenHeader: Buffer,
  transferSyntaxUid: string,
  reserve?: ReserveSpace,
): SpoolWriter {
  // The space is taken before any byte is written, and grown chunk by chunk: past the watermark
  // nothing more is written (the network is still drained) and close() reports ERR_SPOOL_FULL.
  const space = reserve ? reserve(partTenHeader.length + INSTANCE_OVERHEAD_BYTES) : null;
  let refused = reserve !== undefined && space === null;
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
    put(out, partTenHeader);
    for (const c of pending) {
      put(out, c);
    }
    pending = [];
  }

  /** Writes `chunk`; once the kernel has it, statfs counts it and the reservation stops counting it. */
  function put(s: WriteStream, chunk: Buffer): boolean {
    return s.write(chunk, (err) => {
      if (!err) {
        space?.landed(chunk.length);
      }
    });
  }

  // Refused from the start: no slot is used and nothing is written.
  const immediate = refused ? null : pool.takeSync();
  let opened: Promise<void>;
  if (refused) {
    opened = Promise.resolve();
  } else if (immediate) {
    open(immediate);
    opened = Promise.resolve();
  } else {
    opened = pool.take().then(
      // Discarded while the pool was being refilled: the slot goes at once (discard() waits for it).
      async (s) => {
        if (discarded) {
          await rm(s.abs, { force: true });
        } else {
          open(s);
        }
      },
      (err: unknown) => {
        error ??= err instanceof Error ? err : new Error(String(err));
      },
    );
  }

  return {
    write(chunk) {
      if (refused) {
        return true;
      }
      if (space && !space.take(chunk.length)) {
        refused = true; // nothing more reaches the disk; close() reports it
        return true;
      }
      total += chunk.length;
      if (fromPrefix && prefixLen < MAX_PREFIX_BYTES) {
        prefix.push(chunk);
        prefixLen += chunk.length;
      }
      if (out) {
        return put(out, chunk);
      }
      pending.push(chunk); // only while the pool is refilling: bounded by one batch creation
      return true;
    },
    drained() {
      const s = out;
      return new Promise<void>((resolve) => {
        if (s?.writableNeedDrain && !s.destroyed) {
          s.once('drain', resolve).once('close', resolve);
        } else {
          resolve();
        }
      });
    },
    async close() {
      if (refused) {
        await this.discard();
        throw noRoom();
      }
      await opened;
      const s = out;
      if (!s || !slot) {
        throw error ?? new Error('No spool slot was opened.');
      }
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.end(() => {
          resolve();
        });
      });
      if (error) {
        throw error;
      }
      // 'finish': every byte is in the kernel. The stream now fsyncs (flush: true) and closes the
      // file on the thread pool while the dataset is checked and its row committed.
      const durable = new Promise<void>((resolve, reject) => {
        const done = (): void => {
          // Written and fsynced: statfs counts every byte now.
          space?.release();
          if (error) {
            reject(error);
          } else {
            resolve();
          }
        };
        if (s.closed) {
          done();
        } else {
          s.once('close', done);
        }
      });
      durable.catch(() => undefined); // observed by the caller; a failure here must not go unhandled
      // The whole dataset is parsed before anyone is told Success (dicom/validate.ts): from the
      // in-memory prefix when it holds all of it, otherwise from the file.
      const whole = fromPrefix && total === prefixLen ? prefix : null;
      let checked: Awaited<ReturnType<typeof validateDataset>>;
      try {
        checked = await validateDataset({
          whole,
          path: slot.abs,
          datasetOffset: partTenHeader.length,
          transferSyntaxUid,
        });
      } catch (err) {
        await durable.catch(() => undefined);
        throw err;
      }
      const { header, pixelData } = checked;
      return { header, pixelData, rel: slot.rel, abs: slot.abs, durable };
    },
    async discard() {
      discarded = true;
      pending = [];
      space?.release();
      if (out && !out.destroyed) {
        out.destroy();
      }
      // A slot still being created is removed as it arrives: once this resolves nothing is left.
      await opened;
      // A used slot is not returned to the pool: its content is no longer known to be empty.
      if (slot) {
        await rm(slot.abs, { force: true });
      }
    },
  };
}
