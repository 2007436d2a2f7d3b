//! The acceptor's side of association negotiation: decoding an A-ASSOCIATE-RQ, encoding A-ASSOCIATE-AC and -RJ (PS3.8 §9.3.2–9.3.4).
// The decoder keeps every presentation context item exactly as proposed (even, zero and repeated
// ids included): judging them is negotiation's job, and an id must never be renumbered (dcmjs-dimse
// renumbered a repeated id past 255 and then crashed writing it into the one-byte AC field).
import { APPLICATION_CONTEXT, PduError, PduType, eachItem, header, item, text, type ContextResult } from './pdu.ts';

/** One presentation context item as proposed (PS3.8 §9.3.2.2): its id byte and its sub-items. */
export interface ProposedItem {
  readonly id: number;
  /** Exactly one in a valid request. */
  readonly abstractSyntaxes: readonly string[];
  readonly transferSyntaxes: readonly string[];
}

/** A decoded A-ASSOCIATE-RQ. */
export interface AssociateRequest {
  readonly protocolVersion: number;
  /** The 16-byte AE fields as sent: the A-ASSOCIATE-AC returns them unchanged (PS3.8 §9.3.3). */
  readonly calledAeField: Buffer;
  readonly callingAeField: Buffer;
  /** AE titles without their space/NUL padding. */
  readonly calledAe: string;
  readonly callingAe: string;
  readonly applicationContext: string | null;
  readonly contexts: readonly ProposedItem[];
  /** The requestor's receive limit for P-DATA-TF variable fields; 0 = no limit (or not sent). */
  readonly maxPduLength: number;
  readonly implementationClassUid: string | null;
  readonly implementationVersion: string | null;
}

/** Length of the fixed fields before the variable items (PS3.8 Table 9-11). */
const FIXED = 68;

const aeTitle = (b: Buffer): string => b.toString('latin1').replace(/[\0 ]+$/, '').replace(/^ +/, '');

function decodeContext(value: Buffer): ProposedItem {
  if (value.length < 4) {throw new PduError('Presentation context item is shorter than its 4 fixed bytes.');}
  const abstractSyntaxes: string[] = [];
  const transferSyntaxes: string[] = [];
  eachItem(value, 4, value.length, (t, v) => {
    if (t === 0x30) {abstractSyntaxes.push(text(v));}
    else if (t === 0x40) {transferSyntaxes.push(text(v));}
  });
  return { id: value.readUInt8(0), abstractSyntaxes, transferSyntaxes };
}

/**
 * Decodes the body (after the 6-byte PDU header) of an A-ASSOCIATE-RQ. Throws PduError when its
 * structure is broken (fields or items running past their container); unknown item types are
 * skipped as PS3.8 §9.3.1 asks.
 */
export function decodeAssociateRq(body: Buffer): AssociateRequest {
  if (body.length < FIXED) {throw new PduError(`A-ASSOCIATE-RQ of ${String(body.length)} bytes is shorter than its fixed fields.`);}
  const contexts: ProposedItem[] = [];
  let applicationContext: string | null = null;
  let maxPduLength = 0;
  let implementationClassUid: string | null = null;
  let implementationVersion: string | null = null;
  eachItem(body, FIXED, body.length, (type, value) => {
    if (type === 0x10) {applicationContext ??= text(value);}
    else if (type === 0x20) {contexts.push(decodeContext(value));}
    else if (type === 0x50) {
      eachItem(value, 0, value.length, (t, v) => {
        if (t === 0x51) {
          if (v.length !== 4) {throw new PduError(`Maximum length sub-item of ${String(v.length)} bytes (4 expected).`);}
          maxPduLength = v.readUInt32BE(0);
        } else if (t === 0x52) {implementationClassUid = text(v);}
        else if (t === 0x55) {implementationVersion = text(v);}
      });
    }
  });
  const calledAeField = Buffer.from(body.subarray(4, 20));
  const callingAeField = Buffer.from(body.subarray(20, 36));
  return {
    protocolVersion: body.readUInt16BE(0), calledAeField, callingAeField, calledAe: aeTitle(calledAeField), callingAe: aeTitle(callingAeField),
    applicationContext, contexts, maxPduLength, implementationClassUid, implementationVersion,
  };
}

/** What the acceptor answers with an A-ASSOCIATE-AC. */
export interface AssociateAccept {
  readonly calledAeField: Buffer;
  readonly callingAeField: Buffer;
  /** One result per answered context, in the order proposed; ids are odd and distinct. */
  readonly contexts: readonly ContextResult[];
  /** Our receive limit. */
  readonly maxPduLength: number;
  readonly implementationClassUid: string;
  readonly implementationVersion: string;
}

/** The transfer syntax sub-item of a refused context is not significant (PS3.8 §9.3.3.2); we send Implicit VR Little Endian. */
const NOT_SIGNIFICANT_TS = '1.2.840.10008.1.2';

export function encodeAssociateAc(ac: AssociateAccept): Buffer {
  const fixed = Buffer.alloc(FIXED);
  fixed.writeUInt16BE(0x0001, 0);
  ac.calledAeField.copy(fixed, 4, 0, 16);
  ac.callingAeField.copy(fixed, 20, 0, 16);
  const items = [item(0x10, Buffer.from(APPLICATION_CONTEXT, 'latin1'))];
  for (const c of ac.contexts) {
    if (c.id < 1 || c.id > 255 || c.id % 2 === 0) {throw new RangeError(`Presentation context id ${String(c.id)} cannot be answered.`);}
    const ts = item(0x40, Buffer.from(c.result === 0 && c.transferSyntax ? c.transferSyntax : NOT_SIGNIFICANT_TS, 'latin1'));
    items.push(item(0x21, Buffer.concat([Buffer.from([c.id, 0, c.result, 0]), ts])));
  }
  const max = Buffer.alloc(4);
  max.writeUInt32BE(ac.maxPduLength, 0);
  items.push(item(0x50, Buffer.concat([
    item(0x51, max), item(0x52, Buffer.from(ac.implementationClassUid, 'latin1')), item(0x55, Buffer.from(ac.implementationVersion, 'latin1')),
  ])));
  const body = Buffer.concat([fixed, ...items]);
  return Buffer.concat([header(PduType.AssociateAc, body.length), body]);
}

/** A-ASSOCIATE-RJ (PS3.8 §9.3.4): result 1 permanent / 2 transient; source 1–3; reason. */
export function encodeAssociateRj(result: number, source: number, reason: number): Buffer {
  return Buffer.concat([header(PduType.AssociateRj, 4), Buffer.from([0, result, source, reason])]);
}
