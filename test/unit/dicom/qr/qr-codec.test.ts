import { describe, expect, it } from 'vitest';
import { CommandField } from '../../../../src/dicom/command-set.ts';
import { decodeAssociateRq } from '../../../../src/dicom/associate.ts';
import { encodeAssociateRq } from '../../../../src/dicom/pdu.ts';
import { decodeIdentifier, encodeIdentifier, IdentifierError } from '../../../../src/dicom/qr/identifier.ts';
import { decodeCommand, encodeCancelRq, encodeQueryRq, encodeStoreRsp } from '../../../../src/dicom/qr/messages.ts';
import { StudyRoot, getAssociationContexts } from '../../../../src/dicom/qr/sop-classes.ts';
import { classifyQrStatus, describeQrStatus } from '../../../../src/dicom/qr/status.ts';
import { TS } from '../../../../src/dicom/transfer-syntax.ts';

describe('Q/R identifiers', () => {
  it('round-trips keys in both little-endian syntaxes, tags ascending, even lengths', () => {
    for (const ts of [TS.ExplicitLE, TS.ImplicitLE]) {
      const bytes = encodeIdentifier(
        {
          StudyInstanceUID: '1.2.3',
          QueryRetrieveLevel: 'STUDY',
          AccessionNumber: 'A1',
          NumberOfStudyRelatedInstances: '',
        },
        ts,
      );
      expect(bytes.length % 2).toBe(0);
      // (0008,0050) AccessionNumber comes before (0008,0052) QueryRetrieveLevel, (0020,000D), (0020,1208).
      expect(bytes.readUInt16LE(2)).toBe(0x0050);
      expect(decodeIdentifier(bytes, ts)).toEqual({
        AccessionNumber: 'A1',
        QueryRetrieveLevel: 'STUDY',
        StudyInstanceUID: '1.2.3',
        NumberOfStudyRelatedInstances: '',
      });
    }
  });

  it('sends non-ASCII values as UTF-8 under ISO_IR 192 and decodes answers by their character set', () => {
    const bytes = encodeIdentifier({ PatientID: 'MÜLLER1' }, TS.ExplicitLE);
    expect(decodeIdentifier(bytes, TS.ExplicitLE)).toEqual({
      SpecificCharacterSet: 'ISO_IR 192',
      PatientID: 'MÜLLER1',
    });
  });

  it('refuses unknown keywords, binary keys and unreadable answers', () => {
    expect(() => encodeIdentifier({ NoSuchKeyword: '' }, TS.ExplicitLE)).toThrow(IdentifierError);
    expect(() => encodeIdentifier({ PixelData: '' }, TS.ExplicitLE)).toThrow(/only text keys/);
    expect(() => decodeIdentifier(Buffer.from([8, 0, 0x50, 0, 0x53, 0x48, 200, 0]), TS.ExplicitLE)).toThrow(
      IdentifierError,
    );
  });
});

describe('Q/R command sets', () => {
  it('encodes C-MOVE with its destination and reads sub-operation counts back', () => {
    const rq = decodeCommand(
      encodeQueryRq({
        field: CommandField.CMoveRq,
        messageId: 7,
        sopClassUid: StudyRoot.Move,
        moveDestination: 'XNAT',
      }),
    );
    expect(rq).toMatchObject({
      commandField: CommandField.CMoveRq,
      isResponse: false,
      messageId: 7,
      hasDataset: true,
      affectedSopClassUid: StudyRoot.Move,
    });
    const cancel = decodeCommand(encodeCancelRq(7));
    expect(cancel).toMatchObject({
      commandField: CommandField.CCancelRq,
      messageIdBeingRespondedTo: 7,
      hasDataset: false,
    });
    const rsp = decodeCommand(
      encodeStoreRsp({
        messageId: 3,
        sopClassUid: '1.2',
        sopInstanceUid: '1.2.3',
        status: 0xa700,
        errorComment: 'disk full',
      }),
    );
    expect(rsp).toMatchObject({
      commandField: CommandField.CStoreRsp,
      isResponse: true,
      status: 0xa700,
      errorComment: 'disk full',
      affectedSopInstanceUid: '1.2.3',
    });
  });

  it('classifies statuses as a retrieve must act on them', () => {
    expect(
      [0x0000, 0xff00, 0xff01, 0xfe00, 0xb000, 0xa701, 0xa702, 0x0110, 0xa801, 0xa900, 0xc000, 0x0122].map(
        classifyQrStatus,
      ),
    ).toEqual([
      'success',
      'pending',
      'pending',
      'cancel',
      'warning',
      'transient',
      'transient',
      'transient',
      'permanent',
      'permanent',
      'permanent',
      'permanent',
    ]);
    expect(describeQrStatus(0xa801)).toBe('0xA801 (move destination unknown)');
    expect(describeQrStatus(0xc123)).toBe('0xC123 (unable to process)');
  });

  it('proposes the SCP role for every storage class of a C-GET association', () => {
    const { contexts, roles } = getAssociationContexts(['1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.5.1.4.1.1.4']);
    expect(contexts.map((c) => [c.id, c.abstractSyntax])).toEqual([
      [1, StudyRoot.Get],
      [3, '1.2.840.10008.5.1.4.1.1.2'],
      [5, '1.2.840.10008.5.1.4.1.1.4'],
    ]);
    const pdu = encodeAssociateRq({
      calledAe: 'PACS',
      callingAe: 'XNAT',
      contexts,
      roles,
      maxPduLength: 65536,
      implementationClassUid: '1.2.3',
      implementationVersion: 'V',
    });
    // Our acceptor's decoder reads it back whole (it skips role items, as PS3.8 asks of unknown ones).
    expect(decodeAssociateRq(pdu.subarray(6)).contexts).toHaveLength(3);
    const role = Buffer.concat([
      Buffer.from([0x54, 0]),
      Buffer.from([0, 29]),
      Buffer.from([0, 25]),
      Buffer.from('1.2.840.10008.5.1.4.1.1.2', 'latin1'),
      Buffer.from([0, 1]),
    ]);
    expect(pdu.includes(role)).toBe(true);
    expect(getAssociationContexts(Array.from({ length: 200 }, (_, i) => `1.2.3.${String(i)}`)).contexts).toHaveLength(
      128,
    );
  });
});
