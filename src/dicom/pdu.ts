//! DICOM Upper Layer PDUs (PS3.8 §9.3) shared by our requestor (sinks/xnat-dimse) and acceptor (sources/dimse), and the PDU framer.
// Only what C-STORE/C-ECHO needs. Numbers in PDU and item headers are big endian (PS3.8 §9.3.1).
// The acceptor's A-ASSOCIATE-RQ decoder and A-ASSOCIATE-AC/RJ encoders are in associate.ts, the
// framer that cuts a byte stream into PDUs in pdu-framer.ts, P-DATA-TF's PDV items in pdata.ts and
// the words for rejections and aborts in pdu-reasons.ts.

export const PduType = {
  AssociateRq: 0x01,
  AssociateAc: 0x02,
  AssociateRj: 0x03,
  PData: 0x04,
  ReleaseRq: 0x05,
  ReleaseRp: 0x06,
  Abort: 0x07,
} as const;

/** PS3.7 Annex A.2.1: the only application context name. */
export const APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

/** One presentation context we propose: an odd id (1–255), one abstract syntax, its transfer syntaxes. */
export interface ProposedContext {
  readonly id: number;
  readonly abstractSyntax: string;
  readonly transferSyntaxes: readonly string[];
}

export interface AssociateRq {
  readonly calledAe: string;
  readonly callingAe: string;
  readonly contexts: readonly ProposedContext[];
  /** Our receive limit for P-DATA-TF variable fields (item 0x51). */
  readonly maxPduLength: number;
  readonly implementationClassUid: string;
  readonly implementationVersion: string;
  /**
   * SCP/SCU Role Selection sub-items (PS3.7 §D.3.3.4): a C-GET requestor proposes the SCP role for
   * the storage classes it wants to receive on the same association.
   */
  readonly roles?: readonly RoleSelection[];
}

/** One SCP/SCU Role Selection sub-item: which roles the requestor proposes for a SOP class. */
export interface RoleSelection {
  readonly sopClassUid: string;
  readonly scu: boolean;
  readonly scp: boolean;
}

/** The acceptor's answer for one context: result 0 = acceptance (PS3.8 Table 9-18). */
export interface ContextResult {
  readonly id: number;
  readonly result: number;
  readonly transferSyntax: string | null;
}

export interface AssociateAc {
  readonly contexts: readonly ContextResult[];
  /** The peer's receive limit (0 = no limit). */
  readonly maxPduLength: number;
  readonly implementationClassUid: string | null;
  readonly implementationVersion: string | null;
}

export interface AssociateRj {
  readonly result: number;
  readonly source: number;
  readonly reason: number;
}

/**
 * A protocol error in what the peer sent. `abortReason` is the A-ABORT reason an acceptor answers
 * it with (PS3.8 Table 9-26: 1 unrecognised PDU, 2 unexpected PDU, 6 invalid PDU parameter value).
 */
export class PduError extends Error {
  override readonly name: string = 'PduError';
  readonly abortReason: number;
  constructor(message: string, abortReason = 6) {
    super(message);
    this.abortReason = abortReason;
  }
}

export function header(type: number, length: number): Buffer {
  const h = Buffer.alloc(6);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(length, 2);
  return h;
}

export function item(type: number, body: Buffer): Buffer {
  if (body.length > 0xffff) {
    throw new PduError(`Item 0x${type.toString(16)} is too long.`);
  }
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
}

/** AE titles are sent space-padded to 16 bytes (PS3.8 §9.3.2). */
export function aeField(ae: string): Buffer {
  return Buffer.from(ae.padEnd(16, ' ').slice(0, 16), 'latin1');
}

const uid = (s: string): Buffer => Buffer.from(s, 'latin1');

export function encodeAssociateRq(rq: AssociateRq): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(0x0001, 0); // protocol version
  aeField(rq.calledAe).copy(fixed, 4);
  aeField(rq.callingAe).copy(fixed, 20);
  const items = [item(0x10, uid(APPLICATION_CONTEXT))];
  for (const c of rq.contexts) {
    const subs = [item(0x30, uid(c.abstractSyntax)), ...c.transferSyntaxes.map((ts) => item(0x40, uid(ts)))];
    items.push(item(0x20, Buffer.concat([Buffer.from([c.id, 0, 0, 0]), ...subs])));
  }
  const max = Buffer.alloc(4);
  max.writeUInt32BE(rq.maxPduLength, 0);
  const roles = (rq.roles ?? []).map((r) => {
    const u = uid(r.sopClassUid);
    const len = Buffer.alloc(2);
    len.writeUInt16BE(u.length, 0);
    return item(0x54, Buffer.concat([len, u, Buffer.from([r.scu ? 1 : 0, r.scp ? 1 : 0])]));
  });
  // Role selections after the implementation identification, as DCMTK writes them.
  items.push(
    item(
      0x50,
      Buffer.concat([
        item(0x51, max),
        item(0x52, uid(rq.implementationClassUid)),
        item(0x55, uid(rq.implementationVersion)),
        ...roles,
      ]),
    ),
  );
  const body = Buffer.concat([fixed, ...items]);
  return Buffer.concat([header(PduType.AssociateRq, body.length), body]);
}

/**
 * Walks the items of `b` from `from` to `to`, calling `fn(type, start, end)` with each value's
 * byte range. No Buffer view per item: an A-ASSOCIATE-RQ of 128 contexts has a thousand items.
 */
export function eachItemRange(
  b: Buffer,
  from: number,
  to: number,
  fn: (type: number, start: number, end: number) => void,
): void {
  let pos = from;
  while (pos < to) {
    if (pos + 4 > to) {
      throw new PduError('Item header runs past the end of its PDU.');
    }
    const type = b.readUInt8(pos);
    const len = b.readUInt16BE(pos + 2);
    if (pos + 4 + len > to) {
      throw new PduError(`Item 0x${type.toString(16)} runs past the end of its PDU.`);
    }
    fn(type, pos + 4, pos + 4 + len);
    pos += 4 + len;
  }
}

/** Walks the items of `b` from `from` to `to`, calling `fn(type, value)`. */
export function eachItem(b: Buffer, from: number, to: number, fn: (type: number, value: Buffer) => void): void {
  eachItemRange(b, from, to, (type, start, end) => {
    fn(type, b.subarray(start, end));
  });
}

/** A UID or text field in `b[start, end)`: latin-1, trailing NUL and space padding removed. */
export function textAt(b: Buffer, start: number, end: number): string {
  let e = end;
  while (e > start && (b[e - 1] === 0 || b[e - 1] === 0x20)) {
    e--;
  }
  return b.toString('latin1', start, e);
}

/** A UID or text field: latin-1, trailing NUL and space padding removed. */
export const text = (b: Buffer): string => textAt(b, 0, b.length);

/** Decodes the body (after the 6-byte PDU header) of an A-ASSOCIATE-AC. */
export function decodeAssociateAc(body: Buffer): AssociateAc {
  if (body.length < 68) {
    throw new PduError('A-ASSOCIATE-AC is too short.');
  }
  const contexts: ContextResult[] = [];
  let maxPduLength = 0;
  let implementationClassUid: string | null = null;
  let implementationVersion: string | null = null;
  eachItem(body, 68, body.length, (type, value) => {
    if (type === 0x21) {
      if (value.length < 4) {
        throw new PduError('Presentation context item is too short.');
      }
      let ts: string | null = null;
      eachItem(value, 4, value.length, (t, v) => {
        if (t === 0x40) {
          ts = text(v);
        }
      });
      contexts.push({ id: value.readUInt8(0), result: value.readUInt8(2), transferSyntax: ts });
    } else if (type === 0x50) {
      eachItem(value, 0, value.length, (t, v) => {
        if (t === 0x51 && v.length === 4) {
          maxPduLength = v.readUInt32BE(0);
        }
        if (t === 0x52) {
          implementationClassUid = text(v);
        }
        if (t === 0x55) {
          implementationVersion = text(v);
        }
      });
    }
  });
  return { contexts, maxPduLength, implementationClassUid, implementationVersion };
}

/** Decodes the body of an A-ASSOCIATE-RJ (PS3.8 §9.3.4). */
export function decodeAssociateRj(body: Buffer): AssociateRj {
  if (body.length < 4) {
    throw new PduError('A-ASSOCIATE-RJ is too short.');
  }
  return { result: body.readUInt8(1), source: body.readUInt8(2), reason: body.readUInt8(3) };
}

/** Decodes the body of an A-ABORT (PS3.8 §9.3.8). */
export function decodeAbort(body: Buffer): { source: number; reason: number } {
  if (body.length < 4) {
    throw new PduError('A-ABORT is too short.');
  }
  return { source: body.readUInt8(2), reason: body.readUInt8(3) };
}

export const encodeReleaseRq = (): Buffer => Buffer.concat([header(PduType.ReleaseRq, 4), Buffer.alloc(4)]);
export const encodeReleaseRp = (): Buffer => Buffer.concat([header(PduType.ReleaseRp, 4), Buffer.alloc(4)]);

/** A-ABORT; source 0 = service user (us), 2 = service provider (a protocol error we detected). */
export function encodeAbort(source: number, reason: number): Buffer {
  return Buffer.concat([header(PduType.Abort, 4), Buffer.from([0, 0, source, reason])]);
}
