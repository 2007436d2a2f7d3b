//! C-STORE and C-ECHO on an open association: the stored dataset bytes are streamed from disk, never re-encoded.
// Each file is read in chunks into two reusable buffers: while one chunk is in the socket the
// next is read into the other, and a buffer is refilled only once the socket has handed its last
// write to the kernel. Memory per association is two chunks (≤ 8 MiB) whatever the instance size.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { DaemonError, ErrorCode } from '../../errors.ts';
import { fdRead } from '../../dicom/fd-io.ts';
import { parsePart10Header } from '../../dicom/part10.ts';
import type { Association } from '../../dicom/association/store-scu.ts';
import { DimseError } from '../../dicom/association/failure.ts';
import { CommandField, encodeEchoRq, encodeStoreRq, type DimseResponse } from './command.ts';
import { transcodeToExplicitLe, type BodyPart } from './transcode.ts';

// Chunks of a few MiB: one read and one writev per chunk; most instances (a CT slice is 0.5 MB) are one chunk.
const CHUNK_TARGET_BYTES = 4 * 1024 * 1024;

interface Slot {
  buf: Buffer | null;
  /** Settles when the socket no longer needs this buffer's bytes. */
  busy: Promise<void>;
}

/** Two read buffers per association, used alternately. */
export interface ChunkRing {
  readonly chunkBytes: number;
  acquire(): Promise<{ buf: Buffer; release: (written: Promise<void>) => void }>;
}

/** Chunk size: a multiple of the fragment size, so every PDU but the last of a file is full. */
export function createChunkRing(maxFragment: number): ChunkRing {
  const chunkBytes = Math.max(1, Math.floor(CHUNK_TARGET_BYTES / maxFragment)) * maxFragment;
  const slots: Slot[] = [
    { buf: null, busy: Promise.resolve() },
    { buf: null, busy: Promise.resolve() },
  ];
  let next = 0;
  return {
    chunkBytes,
    async acquire() {
      const slot = slots[next] ?? { buf: null, busy: Promise.resolve() };
      next ^= 1;
      await slot.busy;
      // allocUnsafeSlow: a buffer of its own, reused for the whole association (no zeroing per file).
      const buf = (slot.buf ??= Buffer.allocUnsafeSlow(chunkBytes));
      return {
        buf,
        release: (written) => {
          slot.busy = written;
        },
      };
    },
  };
}

/** What to send for one instance. */
export interface StoreItem {
  readonly path: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  /** The syntax the series records for the file; the file's own group 0002 must agree. */
  readonly transferSyntaxUid: string;
  readonly contextId: number;
  /** Rewrite as Explicit VR LE (the fallback context) instead of sending the stored bytes. */
  readonly transcode: boolean;
}

/** Streams `[from, to)` of the file through the ring as PDVs; `last` marks the dataset's final fragment. */
async function sendRange(
  a: Association,
  ring: ChunkRing,
  fd: number,
  item: StoreItem,
  r: { from: number; to: number; swap16: boolean },
  last: boolean,
): Promise<void> {
  for (let pos = r.from; pos < r.to;) {
    const { buf, release } = await ring.acquire();
    // Reads after the first chunk are asynchronous, so the previous chunk drains to the socket meanwhile.
    const n = await fdRead(fd, buf, 0, Math.min(ring.chunkBytes, r.to - pos), pos);
    if (n === 0) {
      throw new DaemonError(
        ErrorCode.SERIES_MISSING_FILE,
        `File of instance ${item.sopInstanceUid} is shorter than when the series was read.`,
        { stage: 'sending', retryable: false },
      );
    }
    const data = buf.subarray(0, n);
    if (r.swap16) {
      data.swap16();
    }
    pos += n;
    const w = a.send(item.contextId, false, data, last && pos === r.to);
    release(w.written);
    if (w.needDrain && pos < r.to) {
      await a.drain();
    }
  }
}

async function sendParts(
  a: Association,
  ring: ChunkRing,
  fd: number,
  item: StoreItem,
  parts: readonly BodyPart[],
): Promise<void> {
  if (parts.length === 0) {
    a.send(item.contextId, false, Buffer.alloc(0), true);
    return;
  }
  for (const [i, part] of parts.entries()) {
    const last = i === parts.length - 1;
    if (Buffer.isBuffer(part)) {
      const w = a.send(item.contextId, false, part, last);
      if (w.needDrain && !last) {
        await a.drain();
      }
    } else {
      await sendRange(a, ring, fd, item, part, last);
    }
  }
}

/**
 * Sends one C-STORE-RQ and its dataset, then waits for the C-STORE-RSP. The first chunk is read
 * synchronously: for a typical instance the whole file is one small local read, cheaper than a
 * thread-pool round trip (as in dicom/dataset-file.ts).
 */
export async function store(
  a: Association,
  ring: ChunkRing,
  item: StoreItem,
  messageId: number,
): Promise<DimseResponse> {
  const fd = openSync(item.path, 'r');
  try {
    const size = fstatSync(fd).size;
    const first = await ring.acquire();
    const n = readSync(fd, first.buf, 0, Math.min(size, ring.chunkBytes), 0);
    const meta = parsePart10Header(first.buf.subarray(0, n));
    const ts = meta?.transferSyntaxUid ?? item.transferSyntaxUid;
    const offset = meta?.datasetOffset ?? 0;
    if (ts !== item.transferSyntaxUid) {
      first.release(Promise.resolve());
      throw new DaemonError(
        ErrorCode.DIMSE_TRANSFER_SYNTAX,
        `File of instance ${item.sopInstanceUid} is stored as ${ts}, not ${item.transferSyntaxUid} as recorded.`,
        { stage: 'sending', retryable: false },
      );
    }
    if (item.transcode) {
      first.release(Promise.resolve());
      const parts = await transcodeToExplicitLe(item.path, { datasetOffset: offset, transferSyntaxUid: ts });
      a.send(
        item.contextId,
        true,
        encodeStoreRq({ messageId, sopClassUid: item.sopClassUid, sopInstanceUid: item.sopInstanceUid }),
        true,
      );
      await sendParts(a, ring, fd, item, parts);
    } else {
      a.send(
        item.contextId,
        true,
        encodeStoreRq({ messageId, sopClassUid: item.sopClassUid, sopInstanceUid: item.sopInstanceUid }),
        true,
      );
      // Only a dataset's last fragment may have odd length (DCMTK refuses others): after an odd
      // meta group, the first chunk gives up its last byte to the next.
      const end = n === size ? n : n - ((n - offset) % 2);
      const w = a.send(item.contextId, false, first.buf.subarray(Math.min(offset, end), end), end === size);
      first.release(w.written);
      if (end < size) {
        if (w.needDrain) {
          await a.drain();
        }
        await sendRange(a, ring, fd, item, { from: end, to: size, swap16: false }, true);
      }
    }
  } finally {
    closeSync(fd);
  }
  const rsp = await a.response();
  expectResponse(a, rsp, CommandField.CStoreRsp, messageId);
  return rsp;
}

/** Sends C-ECHO-RQ on the Verification context and returns the C-ECHO-RSP. */
export async function echo(a: Association, contextId: number, messageId: number): Promise<DimseResponse> {
  a.send(contextId, true, encodeEchoRq(messageId), true);
  const rsp = await a.response();
  expectResponse(a, rsp, CommandField.CEchoRsp, messageId);
  return rsp;
}

/** A response to something else than what we asked is a protocol error: abort rather than guess. */
function expectResponse(a: Association, rsp: DimseResponse, commandField: number, messageId: number): void {
  if (
    rsp.commandField === commandField &&
    (rsp.messageIdBeingRespondedTo === null || rsp.messageIdBeingRespondedTo === messageId)
  ) {
    return;
  }
  const err = new DimseError(
    'protocol',
    `the peer answered message ${String(messageId)} with command 0x${rsp.commandField.toString(16)} for message ${String(rsp.messageIdBeingRespondedTo)}`,
  );
  a.abort(err);
  throw err;
}
