//! The SCP's DIMSE layer: every complete command set answered or refused with an abort; C-STORE streamed to the intake.
import { describe, expect, it } from 'vitest';
import { commandElement, ui, us, withGroupLength } from '../../../../src/dicom/command-set.ts';
import { decodePData } from '../../../../src/dicom/pdata.ts';
import { PduError } from '../../../../src/dicom/pdu.ts';
import { ErrorCode } from '../../../../src/errors.ts';
import { createEvents } from '../../../../src/events.ts';
import { createLogger } from '../../../../src/log.ts';
import { decodeResponse, type DimseResponse } from '../../../../src/sinks/xnat-dimse/command.ts';
import { CommandSetError } from '../../../../src/sources/dimse/commands.ts';
import { createMessageHandler, type MessageHandler } from '../../../../src/sources/dimse/messages.ts';
import { echoRq, pdata, storeRqCommand } from '../../../helpers/pdu.ts';
import { createFakeIntake, type FakeIntake } from '../folder/fake-intake.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';
const accepted = new Map([
  [1, { abstractSyntax: '1.2.840.10008.1.1', transferSyntax: '1.2.840.10008.1.2' }],
  [3, { abstractSyntax: CT, transferSyntax: ELE }],
]);

interface Rig {
  readonly h: MessageHandler;
  readonly intake: FakeIntake;
  readonly sent: Buffer[];
  readonly failed: string[];
  readonly paused: string[];
  /** Feeds one P-DATA-TF (a whole PDU as helpers/pdu.ts builds it). */
  feed(pdu: Buffer): void;
  /** Every response sent so far, decoded, with the context it came on. */
  responses(): (DimseResponse & { contextId: number })[];
}

function rig(peerMaxPdu = 0): Rig {
  const intake = createFakeIntake();
  const events = createEvents();
  const sent: Buffer[] = [];
  const failed: string[] = [];
  const paused: string[] = [];
  events.on('instance.failed', (e) => failed.push(e.code));
  const h = createMessageHandler({
    accepted,
    intake,
    callingAe: 'SCU',
    calledAe: 'XNAT',
    peerIp: '10.0.0.1',
    associationUid: 'a-1',
    log: createLogger('silent'),
    events,
    peerMaxPdu,
    send: (b) => sent.push(b),
    pause: () => paused.push('pause'),
    resume: () => paused.push('resume'),
    changed: () => undefined,
  });
  return {
    h,
    intake,
    sent,
    failed,
    paused,
    feed: (pdu) => {
      h.onPData(pdu.subarray(6));
    },
    responses() {
      const all = Buffer.concat(sent);
      const out: (DimseResponse & { contextId: number })[] = [];
      let parts: Buffer[] = [];
      for (let pos = 0; pos < all.length;) {
        const len = all.readUInt32BE(pos + 2);
        for (const pdv of decodePData(all.subarray(pos + 6, pos + 6 + len))) {
          expect(pdv.command).toBe(true);
          parts.push(pdv.data);
          if (pdv.last) {
            out.push({ ...decodeResponse(Buffer.concat(parts)), contextId: pdv.contextId });
            parts = [];
          }
        }
        pos += 6 + len;
      }
      return out;
    },
  };
}

const command = (elements: Buffer[]): Buffer => withGroupLength(elements);
const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('DIMSE messages', () => {
  it('answers C-ECHO-RQ with Success on its context', () => {
    const r = rig();
    r.feed(echoRq(7, 1));
    expect(r.responses()).toMatchObject([
      { commandField: 0x8030, messageIdBeingRespondedTo: 7, status: 0, contextId: 1 },
    ]);
    expect(r.h.receiving).toBe(false);
  });

  it("streams a C-STORE dataset to the intake in the context's syntax and answers Success once it is stored", async () => {
    const r = rig();
    r.feed(pdata(3, 0x03, storeRqCommand(9, CT, '1.2.3.4')));
    expect(r.h.receiving).toBe(true);
    r.feed(pdata(3, 0x00, Buffer.from('abcd')));
    r.feed(pdata(3, 0x02, Buffer.from('efgh')));
    expect(r.h.ours).toBe(true);
    await r.h.settled();
    expect(r.intake.instances).toHaveLength(1);
    expect(r.intake.instances[0]?.meta).toMatchObject({
      source: 'dimse',
      sopClassUid: CT,
      sopInstanceUid: '1.2.3.4',
      transferSyntaxUid: ELE,
      associationUid: 'a-1',
      peerIp: '10.0.0.1',
    });
    expect(r.intake.instances[0]?.bytes().toString()).toBe('abcdefgh');
    expect(r.responses()).toMatchObject([
      {
        commandField: 0x8001,
        messageIdBeingRespondedTo: 9,
        status: 0,
        affectedSopInstanceUid: '1.2.3.4',
        contextId: 3,
      },
    ]);
    expect([r.h.instances, r.h.bytes]).toEqual([1, 8]);
    expect(r.h.ours).toBe(false);
  });

  it('takes a dataset PDV that arrived in several chunks as views of them, and leaves anything else to be joined', async () => {
    const r = rig();
    r.feed(pdata(3, 0x03, storeRqCommand(9, CT, '1.2.3.4')));
    const body = pdata(3, 0x00, Buffer.from('abcdefgh')).subarray(6);
    expect(r.h.onPDataParts([body.subarray(0, 7), body.subarray(7, 10), body.subarray(10)], body.length)).toBe(true);
    const last = pdata(3, 0x02, Buffer.from('ijkl')).subarray(6);
    // The PDV header split between chunks: not taken (joined by the caller instead).
    expect(r.h.onPDataParts([last.subarray(0, 3), last.subarray(3)], last.length)).toBe(false);
    // Two PDVs in one body: not taken either.
    const two = Buffer.concat([
      pdata(3, 0x00, Buffer.from('mn')).subarray(6),
      pdata(3, 0x02, Buffer.from('op')).subarray(6),
    ]);
    expect(r.h.onPDataParts([two.subarray(0, 8), two.subarray(8)], two.length)).toBe(false);
    expect(r.h.ours).toBe(false);
    expect(r.h.onPDataParts([last.subarray(0, 6), last.subarray(6, 8), last.subarray(8)], last.length)).toBe(true);
    await r.h.settled();
    expect(r.intake.instances[0]?.bytes().toString()).toBe('abcdefghijkl');
    expect(r.responses()).toMatchObject([{ commandField: 0x8001, status: 0 }]);
    // A command PDV in chunks is joined and read by onPData.
    const echo = echoRq(5).subarray(6);
    expect(r.h.onPDataParts([echo.subarray(0, 10), echo.subarray(10)], echo.length)).toBe(false);
  });

  it("passes the intake's refusal on as a failure status with the code in the error comment", async () => {
    const r = rig();
    r.intake.result = () => ({
      ok: false,
      code: ErrorCode.DICOM_UNPARSABLE,
      retryable: false,
      message: 'Dataset ends inside an element.',
    });
    r.feed(pdata(3, 0x03, storeRqCommand(1, CT, '1.2.3.4')));
    r.feed(pdata(3, 0x02, Buffer.from('xx')));
    await r.h.settled();
    expect(r.responses()).toMatchObject([
      { status: 0xc000, errorComment: 'ERR_DICOM_UNPARSABLE: Dataset ends inside an element.' },
    ]);
    expect(r.failed).toEqual([ErrorCode.DICOM_UNPARSABLE]);
    expect(r.h.instances).toBe(0);
  });

  it('answers a C-STORE-RQ without a dataset at once with 0xC000 (permanent), not 0xA700', () => {
    const r = rig();
    r.feed(
      pdata(
        3,
        0x03,
        command([
          commandElement(0x0002, ui(CT)),
          commandElement(0x0100, us(0x0001)),
          commandElement(0x0110, us(5)),
          commandElement(0x0700, us(0)),
          commandElement(0x0800, us(0x0101)),
          commandElement(0x1000, ui('1.2.3')),
        ]),
      ),
    );
    expect(r.responses()).toMatchObject([{ commandField: 0x8001, messageIdBeingRespondedTo: 5, status: 0xc000 }]);
    expect(r.responses()[0]?.errorComment).toMatch(/ERR_COMMAND_INVALID: C-STORE-RQ without a dataset/);
    expect(r.intake.instances).toHaveLength(0);
    expect(r.failed).toEqual([ErrorCode.COMMAND_INVALID]);
  });

  it('reads and drops the dataset of a C-STORE-RQ without SOP UIDs, then answers 0xC000', () => {
    const r = rig();
    r.feed(
      pdata(
        3,
        0x03,
        command([commandElement(0x0100, us(0x0001)), commandElement(0x0110, us(5)), commandElement(0x0800, us(0))]),
      ),
    );
    expect(r.sent).toHaveLength(0);
    r.feed(pdata(3, 0x02, Buffer.alloc(100)));
    expect(r.responses()).toMatchObject([{ status: 0xc000 }]);
    expect(r.intake.instances).toHaveLength(0);
  });

  it('refuses other operations with 0x0211 after reading their dataset, and never answers C-CANCEL', () => {
    const r = rig();
    r.feed(
      pdata(
        3,
        0x03,
        command([
          commandElement(0x0002, ui(CT)),
          commandElement(0x0100, us(0x0020)),
          commandElement(0x0110, us(3)),
          commandElement(0x0800, us(0)),
        ]),
      ),
    );
    r.feed(pdata(3, 0x02, Buffer.alloc(10)));
    r.feed(
      pdata(
        3,
        0x03,
        command([
          commandElement(0x0100, us(0x0fff)),
          commandElement(0x0120, us(3)),
          commandElement(0x0800, us(0x0101)),
        ]),
      ),
    );
    expect(r.responses()).toMatchObject([{ commandField: 0x8020, messageIdBeingRespondedTo: 3, status: 0x0211 }]);
  });

  it.each([
    ['an unreadable command set', pdata(3, 0x03, Buffer.from('garbage!garbage!'))],
    [
      'a command set without CommandField',
      pdata(3, 0x03, command([commandElement(0x0110, us(1)), commandElement(0x0800, us(0x0101))])),
    ],
    [
      'a request without MessageID',
      pdata(3, 0x03, command([commandElement(0x0100, us(0x0030)), commandElement(0x0800, us(0x0101))])),
    ],
    [
      'a response command',
      pdata(
        3,
        0x03,
        command([
          commandElement(0x0100, us(0x8001)),
          commandElement(0x0120, us(1)),
          commandElement(0x0800, us(0x0101)),
          commandElement(0x0900, us(0)),
        ]),
      ),
    ],
    [
      'a C-ECHO-RQ announcing a dataset',
      pdata(
        1,
        0x03,
        command([commandElement(0x0100, us(0x0030)), commandElement(0x0110, us(1)), commandElement(0x0800, us(0))]),
      ),
    ],
    ['a PDV on a context never accepted', echoRq(1, 5)],
    ['a dataset fragment where a command belongs', pdata(3, 0x02, Buffer.alloc(4))],
    ['a command set over 64 KiB', pdata(3, 0x01, Buffer.alloc(65 * 1024))],
  ])('throws PduError (the connection aborts) for %s', (_name, pdu) => {
    const r = rig();
    expect(() => {
      r.feed(pdu);
    }).toThrow(PduError);
    expect(r.sent).toHaveLength(0);
  });

  it('tells command-set problems (ERR_COMMAND_INVALID) from PDU-level ones (ERR_PDU_INVALID)', () => {
    expect(() => {
      rig().feed(pdata(3, 0x03, Buffer.from('garbage!garbage!')));
    }).toThrow(CommandSetError);
    let err: unknown;
    try {
      rig().feed(echoRq(1, 5));
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PduError);
    expect(err).not.toBeInstanceOf(CommandSetError);
  });

  it('throws PduError for a command fragment inside a dataset and for a message sent before the previous response', async () => {
    const a = rig();
    a.feed(pdata(3, 0x03, storeRqCommand(1, CT, '1.2.3')));
    expect(() => {
      a.feed(echoRq(2, 1));
    }).toThrow(PduError);
    const b = rig();
    b.feed(pdata(3, 0x03, storeRqCommand(1, CT, '1.2.3')));
    b.feed(pdata(3, 0x02, Buffer.alloc(4)));
    expect(() => {
      b.feed(echoRq(2, 1));
    }).toThrow(/before the response/);
    await b.h.settled();
  });

  it('pauses the socket while the spool file is behind and resumes when it has drained', async () => {
    const r = rig();
    r.intake.slow = true;
    r.feed(pdata(3, 0x03, storeRqCommand(1, CT, '1.2.3')));
    r.feed(pdata(3, 0x00, Buffer.alloc(10)));
    expect(r.paused).toEqual(['pause']);
    expect(r.h.ours).toBe(true);
    await tick();
    expect(r.paused).toEqual(['pause', 'resume']);
    r.feed(pdata(3, 0x02, Buffer.alloc(10)));
    await r.h.settled();
    expect(r.responses()).toMatchObject([{ status: 0 }]);
  });

  it('cuts a response into command fragments that fit a tiny peer maximum PDU', () => {
    const r = rig(40);
    r.feed(echoRq(1, 1));
    for (let pos = 0, all = Buffer.concat(r.sent); pos < all.length; pos += 6 + all.readUInt32BE(pos + 2)) {
      expect(all.readUInt32BE(pos + 2)).toBeLessThanOrEqual(40);
    }
    expect(r.responses()).toMatchObject([{ commandField: 0x8030, status: 0 }]);
  });

  it('removes a half-received instance when the association ends', async () => {
    const r = rig();
    r.feed(pdata(3, 0x03, storeRqCommand(1, CT, '1.2.3')));
    r.feed(pdata(3, 0x00, Buffer.alloc(10)));
    await r.h.abandon();
    expect(r.intake.instances[0]?.aborted).toBe(1);
    expect(r.h.receiving).toBe(false);
  });
});
