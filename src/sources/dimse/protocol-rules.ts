//! What the acceptor takes in each state (PS3.8 §9.2 state table, acceptor side) and what makes an A-ASSOCIATE-RQ unusable.
import type { AssociateRequest } from '../../dicom/associate.ts';
import { APPLICATION_CONTEXT, PduError, PduType } from '../../dicom/pdu.ts';
import { ErrorCode } from '../../errors.ts';
import type { Rejection } from './policy.ts';

/** Largest A-ASSOCIATE-RQ we read: 128 presentation contexts with many syntaxes fit easily. */
export const MAX_ASSOCIATE_PDU_BYTES = 1024 * 1024;
/** A-RELEASE-RQ/RP and A-ABORT bodies are 4 bytes. */
const MAX_CONTROL_PDU_BYTES = 64;
/** A requestor limit below this cannot usefully carry a response. */
const MIN_PEER_MAX_PDU = 32;

/** Names for PDU types in log lines. */
const PDU_NAMES: Record<number, string> = {
  1: 'A-ASSOCIATE-RQ',
  2: 'A-ASSOCIATE-AC',
  3: 'A-ASSOCIATE-RJ',
  4: 'P-DATA-TF',
  5: 'A-RELEASE-RQ',
  6: 'A-RELEASE-RP',
  7: 'A-ABORT',
};

/** accepting: an A-ASSOCIATE-RQ is being answered (PS3.8 Sta3: only an A-ABORT may come meanwhile). */
export type ConnectionState = 'negotiating' | 'accepting' | 'open' | 'releasing' | 'closing';

/**
 * Why a PDU of `type` and declared `length` is refused in `state`, from its 6-byte header alone
 * (before any of its body is buffered), or null. The error carries the A-ABORT reason.
 */
export function pduRefusal(state: ConnectionState, type: number, length: number, maxPduBytes: number): PduError | null {
  const name = PDU_NAMES[type];
  if (!name) {
    return new PduError(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`, 1);
  }
  const expected: readonly number[] =
    state === 'negotiating'
      ? [PduType.AssociateRq, PduType.Abort]
      : state === 'open'
        ? [PduType.PData, PduType.ReleaseRq, PduType.Abort]
        : [PduType.Abort];
  if (!expected.includes(type)) {
    return new PduError(`${name} ${state === 'negotiating' ? 'before association' : 'not expected now'}`, 2);
  }
  const max =
    type === PduType.AssociateRq
      ? MAX_ASSOCIATE_PDU_BYTES
      : type === PduType.PData
        ? maxPduBytes
        : MAX_CONTROL_PDU_BYTES;
  return length > max
    ? new PduError(`${name} of ${String(length)} bytes exceeds our limit of ${String(max)}`, 6)
    : null;
}

/** What makes a decoded A-ASSOCIATE-RQ unusable whoever sends it (PS3.8 §9.3.2, §9.3.4), or null. */
export function requestProblem(rq: AssociateRequest): Rejection | null {
  const bad = (source: 1 | 2, reason: number, message: string): Rejection => ({
    result: 1,
    source,
    reason,
    code: ErrorCode.ASSOC_REQUEST_INVALID,
    message,
  });
  if ((rq.protocolVersion & 1) === 0) {
    return bad(2, 2, `Protocol version 0x${rq.protocolVersion.toString(16)} is not supported.`);
  }
  if (rq.applicationContext !== APPLICATION_CONTEXT) {
    return bad(1, 2, 'Application context name is not the DICOM one.');
  }
  if (rq.maxPduLength !== 0 && rq.maxPduLength < MIN_PEER_MAX_PDU) {
    return bad(1, 1, `Maximum PDU length ${String(rq.maxPduLength)} is too small.`);
  }
  return null;
}
