//! Encodes a C-STORE-RSP as one P-DATA-TF PDU (command set, implicit VR little endian).
// dcmjs-dimse builds every response through a dcmjs dataset round trip, about a quarter of a
// millisecond and a burst of garbage per instance on the acknowledgement path; the command set of
// a C-STORE-RSP is eight fixed elements (PS3.7 §9.3.1.2), so we write it directly.

export interface StoreResponse {
  readonly presentationContextId: number;
  readonly messageIdBeingRespondedTo: number;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly status: number;
  /** (0000,0902), up to 64 characters; only on failures. */
  readonly errorComment?: string;
}

function element(elem: number, value: Buffer): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt16LE(0x0000, 0);
  head.writeUInt16LE(elem, 2);
  head.writeUInt32LE(value.length, 4);
  return Buffer.concat([head, value]);
}

const us = (n: number): Buffer => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(n, 0);
  return b;
};
/** UI padded with NUL, other text with a space, to even length. */
const text = (s: string, pad: string): Buffer => Buffer.from(s.length % 2 ? s + pad : s, 'latin1');

export function encodeStoreResponse(r: StoreResponse): Buffer {
  const elements = [
    element(0x0002, text(r.sopClassUid, '\0')),
    element(0x0100, us(0x8001)), // C-STORE-RSP
    element(0x0120, us(r.messageIdBeingRespondedTo)),
    element(0x0800, us(0x0101)), // no dataset
    element(0x0900, us(r.status)),
  ];
  if (r.errorComment) {elements.push(element(0x0902, text(r.errorComment.slice(0, 64), ' ')));}
  elements.push(element(0x1000, text(r.sopInstanceUid, '\0')));
  const body = Buffer.concat(elements);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([element(0x0000, groupLength), body]);
  const pdu = Buffer.alloc(12);
  pdu.writeUInt8(0x04, 0); // P-DATA-TF
  pdu.writeUInt32BE(command.length + 6, 2);
  pdu.writeUInt32BE(command.length + 2, 6); // PDV item length
  pdu.writeUInt8(r.presentationContextId, 10);
  pdu.writeUInt8(0x03, 11); // command, last fragment
  return Buffer.concat([pdu, command]);
}
