//! How a requestor association can fail: the kinds every role shares, the C-STORE role's error, and socket errors in words.
import type { AssociateRj } from '../pdu.ts';

/**
 * Why an association failed. `connect`: no TCP connection; `timeout`: the peer did not answer or
 * read in time; `rejected`: A-ASSOCIATE-RJ (see `reject`); `aborted`: the peer sent A-ABORT;
 * `closed`: the connection ended unexpectedly; `protocol`: the peer broke PS3.7/PS3.8 (we
 * aborted); `interrupted`: our AbortSignal fired (we aborted).
 */
export type FailureKind = 'connect' | 'timeout' | 'rejected' | 'aborted' | 'closed' | 'protocol' | 'interrupted';

/**
 * Makes a role's error: each role has its own class (the xnat-dimse sink classifies DimseError,
 * the pull QrError), and the shared association raises its failures through this.
 */
export type MakeFailure<E extends Error> = (kind: FailureKind, message: string, reject?: AssociateRj) => E;

/** Whether a failure is of our making and told to the peer by A-ABORT (its own reject, abort or close, and a connection never made, are not). */
export function abortsPeer(kind: string): boolean {
  return kind !== 'connect' && kind !== 'rejected' && kind !== 'aborted' && kind !== 'closed';
}

/** An association of the C-STORE role that failed; `reject` holds the A-ASSOCIATE-RJ fields when `kind` is 'rejected'. */
export class DimseError extends Error {
  override readonly name = 'DimseError';
  readonly kind: FailureKind;
  readonly reject: AssociateRj | null;
  constructor(kind: FailureKind, message: string, reject: AssociateRj | null = null) {
    super(message);
    this.kind = kind;
    this.reject = reject;
  }
}

/** Socket error codes in words, for reasons an operator reads. */
const SOCKET_ERRORS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ENOTFOUND: 'host not found',
  EAI_AGAIN: 'host name lookup failed',
  EPIPE: 'connection broken',
};

/** "connection refused" for ECONNREFUSED; the code (or message) for anything else. */
export function socketErrorText(err: NodeJS.ErrnoException): string {
  return (err.code === undefined ? undefined : SOCKET_ERRORS[err.code]) ?? err.code ?? err.message;
}
