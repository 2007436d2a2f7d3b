//! Encodes a C-STORE-RSP as one P-DATA-TF PDU (command set, implicit VR little endian).
// dcmjs-dimse builds every response through a dcmjs dataset round trip, about a quarter of a
// millisecond and a burst of garbage per instance on the acknowledgement path; the command set of
// a C-STORE-RSP is eight fixed elements (PS3.7 §9.3.1.2), so we write it directly.
import { commandElement, commandText, ui, us, withGroupLength } from '../../dicom/command-set.ts';

export interface StoreResponse {
  readonly presentationContextId: number;
  readonly messageIdBeingRespondedTo: number;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly status: number;
  /** (0000,0902), up to 64 characters; only on failures. */
  readonly errorComment?: string;
}

export function encodeStoreResponse(r: StoreResponse): Buffer {
  const elements = [
    commandElement(0x0002, ui(r.sopClassUid)),
    commandElement(0x0100, us(0x8001)), // C-STORE-RSP
    commandElement(0x0120, us(r.messageIdBeingRespondedTo)),
    commandElement(0x0800, us(0x0101)), // no dataset
    commandElement(0x0900, us(r.status)),
  ];
  if (r.errorComment) {elements.push(commandElement(0x0902, commandText(r.errorComment.slice(0, 64))));}
  elements.push(commandElement(0x1000, ui(r.sopInstanceUid)));
  const command = withGroupLength(elements);
  const pdu = Buffer.alloc(12);
  pdu.writeUInt8(0x04, 0); // P-DATA-TF
  pdu.writeUInt32BE(command.length + 6, 2);
  pdu.writeUInt32BE(command.length + 2, 6); // PDV item length
  pdu.writeUInt8(r.presentationContextId, 10);
  pdu.writeUInt8(0x03, 11); // command, last fragment
  return Buffer.concat([pdu, command]);
}
