// Our C-STORE-RSP encoder must produce what a DICOM peer's own parser reads back.
import { describe, expect, it } from 'vitest';
import dimse from 'dcmjs-dimse';
import { encodeStoreResponse } from '../../../../src/sources/dimse/store-response.ts';

const IMPLICIT_LE = '1.2.840.10008.1.2';

function decode(pdu: Buffer): Record<string, unknown> {
  expect(pdu.readUInt8(0)).toBe(0x04);
  expect(pdu.readUInt32BE(2)).toBe(pdu.length - 6);
  expect(pdu.readUInt32BE(6)).toBe(pdu.length - 10);
  expect(pdu.readUInt8(11)).toBe(0x03);
  const ds = new dimse.Dataset(pdu.subarray(12), IMPLICIT_LE);
  return ds.getElements();
}

describe('encodeStoreResponse', () => {
  it('encodes a success response that dcmjs-dimse parses back field by field', () => {
    const pdu = encodeStoreResponse({ presentationContextId: 5, messageIdBeingRespondedTo: 4242, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.3.4.5', status: 0 });
    expect(pdu.readUInt8(10)).toBe(5);
    const e = decode(pdu);
    expect(e).toMatchObject({
      AffectedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
      CommandField: 0x8001,
      MessageIDBeingRespondedTo: 4242,
      CommandDataSetType: 0x0101,
      Status: 0,
      AffectedSOPInstanceUID: '1.2.3.4.5',
    });
    expect(e).not.toHaveProperty('ErrorComment');
    // The group length counts every byte after itself.
    expect(e.CommandGroupLength).toBe(pdu.length - 12 - 12);
  });

  it('carries a failure status and a 64-character error comment', () => {
    const comment = `ERR_SPOOL_FULL: ${'x'.repeat(100)}`;
    const e = decode(encodeStoreResponse({ presentationContextId: 1, messageIdBeingRespondedTo: 1, sopClassUid: '1.2', sopInstanceUid: '1.23', status: 0xa700, errorComment: comment }));
    expect(e.Status).toBe(0xa700);
    expect(e.ErrorComment).toBe(comment.slice(0, 64));
  });
});
