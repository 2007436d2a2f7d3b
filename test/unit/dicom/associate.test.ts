//! The acceptor's A-ASSOCIATE-RQ decoder and A-ASSOCIATE-AC/RJ encoders, against bytes laid out from PS3.8 §9.3.
import { describe, expect, it } from 'vitest';
import { decodeAssociateRq, encodeAssociateAc, encodeAssociateRj } from '../../../src/dicom/associate.ts';
import { decodeAssociateAc, decodeAssociateRj, encodeAssociateRq, PduError } from '../../../src/dicom/pdu.ts';
import { associateRq } from '../../helpers/pdu.ts';

const body = (pdu: Buffer): Buffer => pdu.subarray(6);
const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';

describe('decodeAssociateRq', () => {
  it('reads what our own requestor encodes', () => {
    const rq = decodeAssociateRq(
      body(
        encodeAssociateRq({
          calledAe: 'XNAT',
          callingAe: 'SCANNER',
          maxPduLength: 65536,
          implementationClassUid: '1.2.3',
          implementationVersion: 'V1',
          contexts: [
            { id: 1, abstractSyntax: CT, transferSyntaxes: [ELE, '1.2.840.10008.1.2'] },
            { id: 3, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] },
          ],
        }),
      ),
    );
    expect(rq).toMatchObject({
      protocolVersion: 1,
      calledAe: 'XNAT',
      callingAe: 'SCANNER',
      applicationContext: '1.2.840.10008.3.1.1.1',
      maxPduLength: 65536,
      implementationClassUid: '1.2.3',
      implementationVersion: 'V1',
      contexts: [
        { id: 1, abstractSyntaxes: [CT], transferSyntaxes: [ELE, '1.2.840.10008.1.2'] },
        { id: 3, abstractSyntaxes: ['1.2.840.10008.1.1'], transferSyntaxes: ['1.2.840.10008.1.2'] },
      ],
    });
    expect(rq.calledAeField.toString('latin1')).toBe('XNAT            ');
  });

  it('keeps every context item as proposed: 300 of them, even, zero and repeated ids, never renumbered', () => {
    const ids = Array.from({ length: 300 }, (_, i) => (i * 2 + 1) % 256);
    const rq = decodeAssociateRq(
      body(associateRq({ contexts: ids.map((id) => ({ id, abstractSyntax: CT, transferSyntaxes: [ELE] })) })),
    );
    expect(rq.contexts.map((c) => c.id)).toEqual(ids);
    expect(Math.max(...rq.contexts.map((c) => c.id))).toBeLessThanOrEqual(255);
  });

  it('refuses a request shorter than its fixed fields, or with an item running past its end', () => {
    expect(() => decodeAssociateRq(Buffer.alloc(67))).toThrow(PduError);
    const b = body(associateRq());
    const broken = Buffer.from(b);
    broken.writeUInt16BE(0xffff, 68 + 2); // the application context item claims 65535 bytes
    expect(() => decodeAssociateRq(broken)).toThrow(/runs past/);
    expect(() => decodeAssociateRq(b.subarray(0, b.length - 3))).toThrow(PduError);
  });

  it('refuses a maximum-length sub-item that is not 4 bytes', () => {
    const b = Buffer.from(body(associateRq()));
    const at = b.indexOf(Buffer.from([0x51, 0x00, 0x00, 0x04]));
    b.writeUInt16BE(3, at + 2);
    expect(() => decodeAssociateRq(b)).toThrow(PduError);
  });

  it('skips items of unknown types and sub-items it does not use', () => {
    const b = body(associateRq());
    const extra = Buffer.from([0x77, 0, 0, 2, 0xaa, 0xbb]);
    const rq = decodeAssociateRq(Buffer.concat([b, extra]));
    expect(rq.contexts).toHaveLength(1);
  });
});

describe('encodeAssociateAc', () => {
  const fields = { calledAeField: Buffer.from('XNAT            '), callingAeField: Buffer.from('SCANNER         ') };

  it('answers each context with its id, result and syntax, readable by our requestor', () => {
    const ac = encodeAssociateAc({
      ...fields,
      maxPduLength: 16384,
      implementationClassUid: '1.2.3',
      implementationVersion: 'GW',
      contexts: [
        { id: 1, result: 0, transferSyntax: ELE },
        { id: 255, result: 3, transferSyntax: null },
      ],
    });
    expect(ac.readUInt8(0)).toBe(2);
    expect(ac.subarray(10, 26).toString('latin1')).toBe('XNAT            ');
    const d = decodeAssociateAc(ac.subarray(6));
    expect(d).toEqual({
      contexts: [
        { id: 1, result: 0, transferSyntax: ELE },
        { id: 255, result: 3, transferSyntax: '1.2.840.10008.1.2' },
      ],
      maxPduLength: 16384,
      implementationClassUid: '1.2.3',
      implementationVersion: 'GW',
    });
  });

  it('refuses to write an id that is not odd and 1–255', () => {
    for (const id of [0, 2, 257]) {
      expect(() =>
        encodeAssociateAc({
          ...fields,
          maxPduLength: 1,
          implementationClassUid: '1',
          implementationVersion: 'V',
          contexts: [{ id, result: 0, transferSyntax: ELE }],
        }),
      ).toThrow(RangeError);
    }
  });
});

describe('encodeAssociateRj', () => {
  it('lays out result, source and reason (PS3.8 §9.3.4)', () => {
    const rj = encodeAssociateRj(2, 3, 2);
    expect(rj.toString('hex')).toBe('03000000000400020302');
    expect(decodeAssociateRj(rj.subarray(6))).toEqual({ result: 2, source: 3, reason: 2 });
  });
});
