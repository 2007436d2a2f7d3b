//! Upper Layer PDUs of the xnat-dimse SCU against bytes written out by hand from the PS3.8 §9.3 layouts.
import { describe, expect, it } from 'vitest';
import {
  decodeAbort,
  decodeAssociateAc,
  decodeAssociateRj,
  encodeAbort,
  encodeAssociateRq,
  encodeReleaseRp,
  encodeReleaseRq,
  PduError,
} from '../../../src/dicom/pdu.ts';
import { decodePData, pdvHeader } from '../../../src/dicom/pdata.ts';
import { describeAbort, describeReject } from '../../../src/dicom/pdu-reasons.ts';
import { associateRq } from '../../helpers/pdu.ts';

/** Hex (spaces ignored) and latin-1 text pieces, concatenated. */
function bytes(...parts: (string | { text: string })[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : Buffer.from(p.text, 'latin1'),
    ),
  );
}
const t = (text: string): { text: string } => ({ text });
const pad16 = (ae: string): { text: string } => t(ae.padEnd(16, ' '));

describe('A-ASSOCIATE-RQ', () => {
  it('encodes the fixed fields, the application context, one presentation context and the user information', () => {
    const pdu = encodeAssociateRq({
      calledAe: 'XNAT',
      callingAe: 'GW',
      maxPduLength: 16384,
      implementationClassUid: '1.2.3',
      implementationVersion: 'V1',
      contexts: [{ id: 1, abstractSyntax: '1.2.840.10008.1.1', transferSyntaxes: ['1.2.840.10008.1.2'] }],
    });
    const expected = bytes(
      '01 00 000000aa', // type 1, reserved, length 170
      '0001 0000',
      pad16('XNAT'),
      pad16('GW'),
      '00'.repeat(32), // version 1, reserved, called, calling, reserved
      '10 00 0015',
      t('1.2.840.10008.3.1.1.1'), // application context name (21 bytes)
      '20 00 002e 01 00 00 00', // presentation context id 1, length 46
      '30 00 0011',
      t('1.2.840.10008.1.1'), // abstract syntax (17 bytes)
      '40 00 0011',
      t('1.2.840.10008.1.2'), // transfer syntax (17 bytes)
      '50 00 0017', // user information, length 23
      '51 00 0004 00004000', // maximum length 16384
      '52 00 0005',
      t('1.2.3'), // implementation class UID
      '55 00 0002',
      t('V1'), // implementation version name
    );
    expect(pdu.toString('hex')).toBe(expected.toString('hex'));
  });

  it("lays out contexts the way the SCP tests' raw requestor does", () => {
    const contexts = [
      { id: 1, abstractSyntax: '1.2.840.10008.5.1.4.1.1.2', transferSyntaxes: ['1.2.840.10008.1.2.1'] },
      {
        id: 3,
        abstractSyntax: '1.2.840.10008.5.1.4.1.1.2',
        transferSyntaxes: ['1.2.840.10008.1.2', '1.2.840.10008.1.2.1'],
      },
    ];
    const ours = encodeAssociateRq({
      calledAe: 'XNAT',
      callingAe: 'RAWSCU',
      contexts,
      maxPduLength: 16384,
      implementationClassUid: '1.2.3.4',
      implementationVersion: 'V1',
    });
    const theirs = associateRq({
      calledAe: 'XNAT',
      callingAe: 'RAWSCU',
      contexts: contexts.map((c) => ({ ...c, transferSyntaxes: [...c.transferSyntaxes] })),
      maxPdu: 16384,
    });
    // Everything up to our extra 0x55 sub-item is identical (the lengths differ by its 6 bytes).
    const userAt = ours.indexOf(Buffer.from([0x50, 0x00]), 74);
    expect(ours.subarray(6, userAt).equals(theirs.subarray(6, userAt))).toBe(true);
    expect(ours.readUInt32BE(2) - theirs.readUInt32BE(2)).toBe(6);
  });
});

describe('A-ASSOCIATE-AC', () => {
  const ac = bytes(
    '0001 0000',
    pad16('XNAT'),
    pad16('GW'),
    '00'.repeat(32),
    '10 00 0015',
    t('1.2.840.10008.3.1.1.1'),
    '21 00 001b 01 00 00 00',
    '40 00 0013',
    t('1.2.840.10008.1.2.1'), // id 1 accepted, explicit LE
    '21 00 0008 03 00 04 00',
    '40 00 0000', // id 3: transfer syntaxes not supported
    '50 00 0018',
    '51 00 0004 00010000',
    '52 00 0004',
    t('1.23'),
    '55 00 0004',
    t('DCM '),
  );

  it('decodes context results, the maximum PDU length and the implementation identity', () => {
    const d = decodeAssociateAc(ac);
    expect(d.contexts).toEqual([
      { id: 1, result: 0, transferSyntax: '1.2.840.10008.1.2.1' },
      { id: 3, result: 4, transferSyntax: '' },
    ]);
    expect(d.maxPduLength).toBe(65536);
    expect(d.implementationClassUid).toBe('1.23');
    expect(d.implementationVersion).toBe('DCM');
  });

  it('refuses an item that runs past the end of the PDU', () => {
    expect(() => decodeAssociateAc(ac.subarray(0, ac.length - 3))).toThrow(PduError);
    expect(() => decodeAssociateAc(Buffer.alloc(10))).toThrow(/too short/);
  });
});

describe('A-ASSOCIATE-RJ, A-RELEASE, A-ABORT', () => {
  it('decodes a reject and names it in words', () => {
    const rj = decodeAssociateRj(bytes('00 01 01 07'));
    expect(rj).toEqual({ result: 1, source: 1, reason: 7 });
    expect(describeReject(rj)).toBe(
      'rejected permanently by the service user (called AE title not recognised; result 1, source 1, reason 7)',
    );
    expect(describeReject({ result: 2, source: 3, reason: 1 })).toMatch(/^rejected transiently .*temporary congestion/);
    expect(describeReject({ result: 1, source: 1, reason: 3 })).toMatch(/calling AE title not recognised/);
  });

  it('encodes release and abort PDUs byte for byte', () => {
    expect(encodeReleaseRq().toString('hex')).toBe('050000000004' + '00000000');
    expect(encodeReleaseRp().toString('hex')).toBe('060000000004' + '00000000');
    expect(encodeAbort(0, 0).toString('hex')).toBe('070000000004' + '00000000');
    expect(encodeAbort(2, 2).toString('hex')).toBe('070000000004' + '00000202');
  });

  it('decodes an abort and names its source and reason', () => {
    const a = decodeAbort(bytes('00 00 02 01'));
    expect(a).toEqual({ source: 2, reason: 1 });
    expect(describeAbort(a)).toBe('aborted by the service provider (unrecognised PDU; source 2, reason 1)');
    expect(describeAbort({ source: 0, reason: 0 })).toMatch(/service user/);
  });
});

describe('P-DATA-TF', () => {
  it('writes one PDV per PDU: PDU length, item length, context id and the command/last bits', () => {
    expect(pdvHeader(5, true, true, 100).toString('hex')).toBe('04 00 0000006a 00000066 05 03'.replace(/\s/g, ''));
    expect(pdvHeader(7, false, false, 131066).toString('hex')).toBe('04 00 00020000 0001fffc 07 00'.replace(/\s/g, ''));
    expect(pdvHeader(7, false, true, 0).toString('hex')).toBe('04 00 00000006 00000002 07 02'.replace(/\s/g, ''));
  });

  it('decodes several PDVs of one PDU', () => {
    const body = bytes('00000004 01 03 aabb', '00000003 03 00 cc');
    expect(decodePData(body)).toEqual([
      { contextId: 1, command: true, last: true, data: Buffer.from([0xaa, 0xbb]) },
      { contextId: 3, command: false, last: false, data: Buffer.from([0xcc]) },
    ]);
    expect(() => decodePData(bytes('00000009 01 03 aabb'))).toThrow(PduError);
  });
});
