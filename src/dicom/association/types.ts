//! What the requestor association offers its roles, and what a role gives it (requestor.ts).
import type { Pdv } from '../pdata.ts';
import type { AssociateRq, ContextResult } from '../pdu.ts';
import type { MakeFailure } from './failure.ts';

export interface RequestorOptions extends Omit<AssociateRq, 'maxPduLength'> {
  readonly host: string;
  readonly port: number;
  /** Our receive limit, advertised to the peer. */
  readonly maxPduLength: number;
  readonly connectTimeoutMs: number;
  /** Deadline for A-ASSOCIATE-AC, A-RELEASE-RP, and for the socket to drain. */
  readonly responseTimeoutMs: number;
  /** Hard stop: abort the association at once. */
  readonly signal: AbortSignal;
}

/** What a role does with the association: its errors, the PDVs it receives, what it lets go of on failure. */
export interface Role<E extends Error & { readonly kind: string }> {
  readonly error: MakeFailure<E>;
  /** One PDV of a P-DATA-TF, in order; a throw (PduError) aborts the association as a protocol error. */
  onPdv(pdv: Pdv): void;
  /** The association failed: the role releases what it holds (an instance half received). */
  onFail?(err: E): void;
}

/** One open association as its role sees it. */
export interface Requestor<E extends Error> {
  /** Settles once the peer accepted (A-ASSOCIATE-AC); rejects with the failure otherwise. */
  readonly opened: Promise<void>;
  /** Accepted context id → the transfer syntax the peer chose for it. */
  readonly accepted: ReadonlyMap<number, string>;
  readonly results: readonly ContextResult[];
  /** Bytes of data per PDV: the peer's max PDU length less the PDV item header, even. */
  readonly maxFragment: number;
  readonly peerIp: string;
  /** Settles once the TCP connection is gone. */
  readonly closed: Promise<void>;
  /** The first failure, or null. */
  failure(): E | null;
  /**
   * Sends `data` as PDVs of at most `maxFragment` bytes, each in its own P-DATA-TF; `last` marks the
   * final fragment of a message; `onWritten` runs once the bytes were handed to the kernel. False
   * when the socket's buffer is over its high-water mark (see `drain`). Throws the failure.
   */
  write(contextId: number, command: boolean, data: Buffer, last: boolean, onWritten?: () => void): boolean;
  /** Resolves when the socket can take more data; fails after `responseTimeoutMs` without progress. */
  drain(): Promise<void>;
  /**
   * Waits for the role to `deliver` a message; fails after `ms`. `idle`: the deadline starts again
   * with every PDU from the peer, and runs not at all while `holdIdle` is on.
   */
  nextMessage<T>(what: string, ms: number, idle: boolean): Promise<T>;
  /** Hands `value` to a pending `nextMessage`; false when none waits. */
  deliver(value: unknown): boolean;
  /** On while the peer waits for us (we store its instance): an idle wait has no deadline. */
  holdIdle(on: boolean): void;
  /** Stops and restarts reading from the socket (back-pressure from where the role writes). */
  pause(): void;
  resume(): void;
  /** A-RELEASE-RQ, wait for A-RELEASE-RP, close. */
  release(): Promise<void>;
  /** Fails the association with `err` (A-ABORT when the failure is ours). */
  fail(err: E): void;
}
