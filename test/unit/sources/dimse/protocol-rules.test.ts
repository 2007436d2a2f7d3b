//! The acceptor's PDU rules per state, and what makes an A-ASSOCIATE-RQ unusable.
import { describe, expect, it } from 'vitest';
import { decodeAssociateRq } from '../../../../src/dicom/associate.ts';
import { ErrorCode } from '../../../../src/errors.ts';
import { MAX_ASSOCIATE_PDU_BYTES, pduRefusal, requestProblem } from '../../../../src/sources/dimse/protocol-rules.ts';
import { associateRq } from '../../../helpers/pdu.ts';

describe('pduRefusal', () => {
  it('takes only A-ASSOCIATE-RQ (up to 1 MiB) and A-ABORT before association', () => {
    expect(pduRefusal('negotiating', 1, MAX_ASSOCIATE_PDU_BYTES, 16384)).toBeNull();
    expect(pduRefusal('negotiating', 7, 4, 16384)).toBeNull();
    expect(pduRefusal('negotiating', 1, MAX_ASSOCIATE_PDU_BYTES + 1, 16384)?.abortReason).toBe(6);
    for (const type of [2, 3, 4, 5, 6]) {
      expect(pduRefusal('negotiating', type, 4, 16384)?.abortReason).toBe(2);
    }
  });

  it('takes P-DATA up to our maximum, A-RELEASE-RQ and A-ABORT on an open association', () => {
    expect(pduRefusal('open', 4, 16384, 16384)).toBeNull();
    expect(pduRefusal('open', 4, 16385, 16384)?.message).toMatch(/exceeds our limit of 16384/);
    expect(pduRefusal('open', 5, 4, 16384)).toBeNull();
    expect(pduRefusal('open', 5, 65, 16384)?.abortReason).toBe(6);
    expect(pduRefusal('open', 1, 100, 16384)?.abortReason).toBe(2);
  });

  it('takes only A-ABORT while its A-ASSOCIATE-RQ is being answered (PS3.8 Sta3)', () => {
    expect(pduRefusal('accepting', 7, 4, 16384)).toBeNull();
    for (const type of [1, 2, 3, 4, 5, 6]) {
      expect(pduRefusal('accepting', type, 4, 16384)?.abortReason).toBe(2);
    }
  });

  it('takes only A-ABORT while releasing or closing, and never an unknown type', () => {
    expect(pduRefusal('releasing', 4, 10, 16384)?.abortReason).toBe(2);
    expect(pduRefusal('closing', 7, 4, 16384)).toBeNull();
    for (const type of [0, 8, 0x7f, 0xff]) {
      expect(pduRefusal('open', type, 4, 16384)?.abortReason).toBe(1);
    }
  });
});

describe('requestProblem', () => {
  const rq = (patch: (b: Buffer) => void = () => undefined) => {
    const b = Buffer.from(associateRq().subarray(6));
    patch(b);
    return decodeAssociateRq(b);
  };

  it('accepts a normal request', () => {
    expect(requestProblem(rq())).toBeNull();
  });

  it('rejects a protocol version without bit 0 (source 2, reason 2) and a foreign application context (source 1, reason 2)', () => {
    expect(requestProblem(rq((b) => b.writeUInt16BE(2, 0)))).toMatchObject({
      result: 1,
      source: 2,
      reason: 2,
      code: ErrorCode.ASSOC_REQUEST_INVALID,
    });
    expect(requestProblem(rq((b) => b.write('9', 68 + 4 + 20, 'latin1')))).toMatchObject({
      result: 1,
      source: 1,
      reason: 2,
    });
  });

  it('rejects a maximum PDU length too small to carry a response, and takes 0 (no limit)', () => {
    const at = (b: Buffer): number => b.indexOf(Buffer.from([0x51, 0, 0, 4])) + 4;
    expect(requestProblem(rq((b) => b.writeUInt32BE(31, at(b))))).toMatchObject({ result: 1, source: 1, reason: 1 });
    expect(requestProblem(rq((b) => b.writeUInt32BE(0, at(b))))).toBeNull();
  });
});
