//! The acceptor's side of association negotiation: decoding an A-ASSOCIATE-RQ, encoding A-ASSOCIATE-AC and -RJ (PS3.8 §9.3.2–9.3.4).
// The decoder keeps every presentation context item exactly as proposed (even, zero and repeated
// ids included): judging them is negotiation's job, and an id must never be renumbered (dcmjs-dimse
// renumbered a repeated id past 255 and then crashed writing it into the one-byte AC field).
import { APPLICATION_CONTEXT, PduError, PduType, eachItemRange, header, textAt, type ContextResult } from './pdu.ts';

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

const aeTitle = (b: Buffer): string =>
  b
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^ +/, '');

function decodeContext(b: Buffer, start: number, end: number): ProposedItem {
  if (end - start < 4) {
    throw new PduError('Presentation context item is shorter than its 4 fixed bytes.');
  }
  const abstractSyntaxes: string[] = [];
  const transferSyntaxes: string[] = [];
  eachItemRange(b, start + 4, end, (t, s, e) => {
    if (t === 0x30) {
      abstractSyntaxes.push(textAt(b, s, e));
    } else if (t === 0x40) {
      transferSyntaxes.push(textAt(b, s, e));
    }
  });
  return { id: b.readUInt8(start), abstractSyntaxes, transferSyntaxes };
}

/**
 * Decodes the body (after the 6-byte PDU header) of an A-ASSOCIATE-RQ. Throws PduError when its
 * structure is broken (fields or items running past their container); unknown item types are
 * skipped as PS3.8 §9.3.1 asks.
 */
export function decodeAssociateRq(body: Buffer): AssociateRequest {
  if (body.length < FIXED) {
    throw new PduError(`A-ASSOCIATE-RQ of ${String(body.length)} bytes is shorter than its fixed fields.`);
  }
  const contexts: ProposedItem[] = [];
  let applicationContext: string | null = null;
  let maxPduLength = 0;
  let implementationClassUid: string | null = null;
  let implementationVersion: string | null = null;
  eachItemRange(body, FIXED, body.length, (type, start, end) => {
    if (type === 0x10) {
      applicationContext ??= textAt(body, start, end);
    } else if (type === 0x20) {
      contexts.push(decodeContext(body, start, end));
    } else if (type === 0x50) {
      eachItemRange(body, start, end, (t, s, e) => {
        if (t === 0x51) {
          if (e - s !== 4) {
            throw new PduError(`Maximum length sub-item of ${String(e - s)} bytes (4 expected).`);
          }
          maxPduLength = body.readUInt32BE(s);
        } else if (t === 0x52) {
          implementationClassUid = textAt(body, s, e);
        } else if (t === 0x55) {
          implementationVersion = textAt(body, s, e);
        }
      });
    }
  });
  const calledAeField = Buffer.from(body.subarray(4, 20));
  const callingAeField = Buffer.from(body.subarray(20, 36));
  return {
    protocolVersion: body.readUInt16BE(0),
    calledAeField,
    callingAeField,
    calledAe: aeTitle(calledAeField),
    callingAe: aeTitle(callingAeField),
    applicationContext,
    contexts,
    maxPduLength,
    implementationClassUid,
    implementationVersion,
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

/** Encodes the A-ASSOCIATE-AC into one buffer (a 128-context answer would otherwise be hundreds of small ones). */
export function encodeAssociateAc(ac: AssociateAccept): Buffer {
  const syntaxOf = (c: ContextResult): string =>
    c.result === 0 && c.transferSyntax ? c.transferSyntax : NOT_SIGNIFICANT_TS;
  const user = 4 + 8 + 4 + ac.implementationClassUid.length + 4 + ac.implementationVersion.length;
  let size = 6 + FIXED + 4 + APPLICATION_CONTEXT.length + 4 + user;
  for (const c of ac.contexts) {
    size += 4 + 4 + 4 + syntaxOf(c).length;
  }
  const out = Buffer.alloc(size);
  let pos = 0;
  const u8 = (v: number): void => {
    pos = out.writeUInt8(v, pos);
  };
  const u16 = (v: number): void => {
    pos = out.writeUInt16BE(v, pos);
  };
  const str = (v: string): void => {
    pos += out.write(v, pos, 'latin1');
  };
  const itemHead = (type: number, length: number): void => {
    u8(type);
    u8(0);
    u16(length);
  };
  u8(PduType.AssociateAc);
  u8(0);
  pos = out.writeUInt32BE(size - 6, pos);
  u16(0x0001);
  u16(0);
  ac.calledAeField.copy(out, pos, 0, 16);
  ac.callingAeField.copy(out, pos + 16, 0, 16);
  pos += 32 + 32;
  itemHead(0x10, APPLICATION_CONTEXT.length);
  str(APPLICATION_CONTEXT);
  for (const c of ac.contexts) {
    if (c.id < 1 || c.id > 255 || c.id % 2 === 0) {
      throw new RangeError(`Presentation context id ${String(c.id)} cannot be answered.`);
    }
    const ts = syntaxOf(c);
    itemHead(0x21, 4 + 4 + ts.length);
    u8(c.id);
    u8(0);
    u8(c.result);
    u8(0);
    itemHead(0x40, ts.length);
    str(ts);
  }
  itemHead(0x50, user);
  itemHead(0x51, 4);
  pos = out.writeUInt32BE(ac.maxPduLength, pos);
  itemHead(0x52, ac.implementationClassUid.length);
  str(ac.implementationClassUid);
  itemHead(0x55, ac.implementationVersion.length);
  str(ac.implementationVersion);
  return out;
}

/** A-ASSOCIATE-RJ (PS3.8 §9.3.4): result 1 permanent / 2 transient; source 1–3; reason. */
export function encodeAssociateRj(result: number, source: number, reason: number): Buffer {
  return Buffer.concat([header(PduType.AssociateRj, 4), Buffer.from([0, result, source, reason])]);
}
