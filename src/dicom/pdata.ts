//! P-DATA-TF PDUs (PS3.8 §9.3.5): the PDV items that carry command and dataset fragments, out and in.
// Both directions of one association use them: our requestor and acceptor write each fragment
// behind pdvHeader, and read what the peer sent with decodePData or, for a body held in chunks,
// singlePdvParts.
import { PduError, PduType } from './pdu.ts';

/** Bytes of a P-DATA-TF PDU header plus one PDV item header: what precedes each fragment. */
export const PDV_OVERHEAD = 12;

export interface Pdv {
  readonly contextId: number;
  readonly command: boolean;
  readonly last: boolean;
  readonly data: Buffer;
}

/**
 * The 12 bytes before one fragment: a P-DATA-TF header holding a single PDV item. Sending each
 * fragment in its own PDU is what DCMTK does; it keeps command and data fragments apart (PS3.8 §E.2).
 */
export function pdvHeader(contextId: number, command: boolean, last: boolean, length: number): Buffer {
  const h = Buffer.allocUnsafe(PDV_OVERHEAD);
  h.writeUInt8(PduType.PData, 0);
  h.writeUInt8(0, 1);
  h.writeUInt32BE(length + 6, 2);
  h.writeUInt32BE(length + 2, 6);
  h.writeUInt8(contextId, 10);
  h.writeUInt8((command ? 1 : 0) | (last ? 2 : 0), 11);
  return h;
}

/**
 * The PDV of a P-DATA-TF body held in several chunks, when the body is exactly one PDV whose item
 * header lies in the first chunk (what senders do with datasets): its data as views of the chunks,
 * without joining them. Null for anything else (the caller joins the body and uses decodePData).
 */
export function singlePdvParts(
  parts: readonly Buffer[],
  length: number,
): (Omit<Pdv, 'data'> & { parts: Buffer[] }) | null {
  const first = parts[0];
  if (!first || first.length < 6 || first.readUInt32BE(0) + 4 !== length) {
    return null;
  }
  const flags = first.readUInt8(5);
  const data = [first.subarray(6), ...parts.slice(1)].filter((b) => b.length > 0);
  return { contextId: first.readUInt8(4), command: (flags & 1) === 1, last: (flags & 2) === 2, parts: data };
}

/** The PDV items of a P-DATA-TF body. */
export function decodePData(body: Buffer): Pdv[] {
  const out: Pdv[] = [];
  let pos = 0;
  while (pos < body.length) {
    if (pos + 6 > body.length) {
      throw new PduError('PDV item header runs past the end of its PDU.');
    }
    const len = body.readUInt32BE(pos);
    if (len < 2 || pos + 4 + len > body.length) {
      throw new PduError('PDV item length is invalid.');
    }
    const flags = body.readUInt8(pos + 5);
    out.push({
      contextId: body.readUInt8(pos + 4),
      command: (flags & 1) === 1,
      last: (flags & 2) === 2,
      data: body.subarray(pos + 6, pos + 4 + len),
    });
    pos += 4 + len;
  }
  return out;
}
