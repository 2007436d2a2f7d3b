//! How a Q/R operation can fail, as one error type the pull classifies.
import type { FailureKind } from '../association/failure.ts';
import type { AssociateRj } from '../pdu.ts';

/**
 * `connect`: no TCP connection; `timeout`: the peer did not answer in time; `rejected`:
 * A-ASSOCIATE-RJ (see `reject`); `aborted`: the peer sent A-ABORT; `closed`: the connection ended
 * unexpectedly; `protocol`: the peer broke PS3.7/PS3.8 (we aborted); `interrupted`: our own signal
 * (we aborted); `context`: the peer accepted none of the contexts the operation needs; `status`:
 * the operation ended with a failure status (see `status`).
 */
export type QrFailureKind = FailureKind | 'context' | 'status';

export class QrError extends Error {
  override readonly name = 'QrError';
  readonly kind: QrFailureKind;
  readonly reject: AssociateRj | null;
  readonly status: number | null;
  constructor(kind: QrFailureKind, message: string, o: { reject?: AssociateRj; status?: number } = {}) {
    super(message);
    this.kind = kind;
    this.reject = o.reject ?? null;
    this.status = o.status ?? null;
  }
}
