//! What a source tells the intake about one arriving instance, and what the intake answers.
import type { ErrorCode } from '../errors.ts';
import type { SourceId } from '../events.ts';

/** Who sent an instance and how: recorded on every instance row (audit). */
export interface IncomingMeta {
  readonly source: SourceId;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
  /** Association (or folder drop) this instance belongs to; keeps its series open until closed. */
  readonly associationUid: string;
  /** Folder source: drop name and relative path. */
  readonly origin?: string;
}

/**
 * A temp spool file receiving one instance's dataset bytes (no preamble / group 0002:
 * the intake writes the Part 10 header itself). Nothing is visible until `finish()` resolves ok.
 */
export interface IncomingInstance {
  /** Appends dataset bytes; returns false when the caller should wait for `drained()`. */
  write(chunk: Buffer): boolean;
  /** Resolves when buffered bytes have been handed to the kernel. */
  drained(): Promise<void>;
  /** fsync, verify, rename into the spool, fsync the directory, commit the row. */
  finish(): Promise<IngestResult>;
  /** Discards the temp file (peer dropped, association aborted). Idempotent. */
  abort(): Promise<void>;
  readonly bytesWritten: number;
}

export type IngestResult =
  | { readonly ok: true; readonly instanceId: number; readonly outcome: 'stored' | 'duplicate' | 'replaced' }
  | { readonly ok: false; readonly code: ErrorCode; readonly retryable: boolean; readonly message: string };

/** Why intake would refuse new work right now (back-pressure), or null when it accepts. */
export type Admission =
  { readonly ok: true } | { readonly ok: false; readonly code: ErrorCode; readonly message: string };

/** A writer's claim on free space above the watermark (taken before writing; see spool/disk-space.ts). */
export interface SpaceReservation {
  /** Claims `n` more bytes for writing; false (nothing claimed) when that would cross the watermark. */
  take(n: number): boolean;
  /** `n` claimed bytes are now on disk, so statfs counts them and the reservation no longer does. */
  landed(n: number): void;
  /** Gives back every byte not yet on disk. Idempotent. */
  release(): void;
  /** Bytes claimed so far. */
  readonly taken: number;
}

/** A free-space reading of the file system holding a directory, with what writers hold of it. */
export interface SpaceReading {
  /** Free bytes (statfs, for unprivileged users), read now. */
  readonly freeBytes: number;
  /** Bytes reserved by writers and not yet written. */
  readonly reservedBytes: number;
  /** Size of the whole file system (Infinity when unknown). */
  readonly totalBytes: number;
  /** What can still be reserved: free − reserved − watermark (negative below the watermark). */
  readonly availableBytes: number;
  /** The watermark itself. */
  readonly minFreeBytes: number;
}
