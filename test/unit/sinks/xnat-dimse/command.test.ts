//! DIMSE command sets of the xnat-dimse SCU: Implicit VR LE bytes per PS3.7 §9.3 and §E, and response parsing.
import { describe, expect, it } from 'vitest';
import {
  CommandError,
  decodeResponse,
  encodeEchoRq,
  encodeStoreRq,
  statusHex,
} from '../../../../src/sinks/xnat-dimse/command.ts';
import { echoRq, storeRqCommand } from '../../../helpers/pdu.ts';

function bytes(...parts: (string | { text: string })[]): Buffer {
  return Buffer.concat(
    parts.map((p) =>
      typeof p === 'string' ? Buffer.from(p.replace(/\s+/g, ''), 'hex') : Buffer.from(p.text, 'latin1'),
    ),
  );
}
const t = (text: string): { text: string } => ({ text });

describe('C-STORE-RQ', () => {
  it('encodes the group length and the six required elements in tag order', () => {
    const cmd = encodeStoreRq({ messageId: 7, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.3.4' });
    const expected = bytes(
      '0000 0000 04000000 5a000000', // (0000,0000) UL 4: group length 90
      '0000 0200 1a000000',
      t('1.2.840.10008.5.1.4.1.1.2'),
      '00', // AffectedSOPClassUID, 25 chars + NUL pad
      '0000 0001 02000000 0100', // CommandField C-STORE-RQ
      '0000 1001 02000000 0700', // MessageID 7
      '0000 0007 02000000 0000', // Priority medium
      '0000 0008 02000000 0000', // CommandDataSetType: a dataset follows
      '0000 0010 08000000',
      t('1.2.3.4'),
      '00', // AffectedSOPInstanceUID, NUL-padded
    );
    expect(cmd.toString('hex')).toBe(expected.toString('hex'));
  });

  it('is the same command set the SCP tests send', () => {
    const sop = '2.25.1234567';
    expect(
      encodeStoreRq({ messageId: 300, sopClassUid: '1.2.840.10008.5.1.4.1.1.4', sopInstanceUid: sop }).equals(
        storeRqCommand(300, '1.2.840.10008.5.1.4.1.1.4', sop),
      ),
    ).toBe(true);
  });
});

describe('C-ECHO-RQ', () => {
  it('announces no dataset (0x0101)', () => {
    const cmd = encodeEchoRq(3);
    // The helper wraps the same command set in a P-DATA-TF with one PDV (12 bytes of headers).
    expect(cmd.equals(echoRq(3).subarray(12))).toBe(true);
    expect(cmd.subarray(-10).toString('hex')).toBe('00000008020000000101');
  });
});

describe('responses', () => {
  const rsp = (...els: Buffer[]): Buffer => {
    const body = Buffer.concat(els);
    return Buffer.concat([bytes('0000 0000 04000000'), Buffer.from(Uint32Array.of(body.length).buffer), body]);
  };
  const us = (elem: string, n: number): Buffer =>
    bytes(
      `0000 ${elem} 02000000`,
      n
        .toString(16)
        .padStart(4, '0')
        .replace(/(..)(..)/, '$2$1'),
    );

  it('reads status, the message it answers, the error comment and offending elements', () => {
    const comment = 'Unable to identify project';
    const d = decodeResponse(
      rsp(
        bytes('0000 0200 1a000000'),
        Buffer.from('1.2.840.10008.5.1.4.1.1.2\0'),
        us('0001', 0x8001),
        us('2001', 7),
        us('0008', 0x0101),
        us('0009', 0xc000),
        bytes('0000 0109 08000000 1000 1000 2000 0d00'), // OffendingElement (0010,0010) (0020,000D)
        bytes('0000 0209 1a000000'),
        Buffer.from(comment), // ErrorComment, even length
        bytes('0000 0010 08000000'),
        Buffer.from('1.2.3.4\0'),
      ),
    );
    expect(d).toEqual({
      commandField: 0x8001,
      messageIdBeingRespondedTo: 7,
      status: 0xc000,
      errorComment: comment,
      offendingElements: ['(0010,0010)', '(0020,000D)'],
      affectedSopInstanceUid: '1.2.3.4',
      hasDataset: false,
    });
  });

  it('trims the padding of a comment and treats an empty one as none', () => {
    expect(
      decodeResponse(rsp(us('0001', 0x8030), us('0009', 0), bytes('0000 0209 04000000'), Buffer.from('ok  ')))
        .errorComment,
    ).toBe('ok');
    expect(decodeResponse(rsp(us('0001', 0x8030), us('0009', 0), bytes('0000 0209 00000000'))).errorComment).toBeNull();
  });

  it('refuses a response without status, with another group, or cut short', () => {
    expect(() => decodeResponse(rsp(us('0001', 0x8001)))).toThrow(CommandError);
    expect(() => decodeResponse(bytes('0800 1800 02000000 0000'))).toThrow(/group 0008/);
    expect(() => decodeResponse(bytes('0000 0009 04000000 00'))).toThrow(/ends inside/);
  });

  it('writes statuses as four hex digits', () => {
    expect(statusHex(0xa700)).toBe('0xA700');
    expect(statusHex(0)).toBe('0x0000');
  });
});
