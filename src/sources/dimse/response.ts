//! Encodes a DIMSE response (C-STORE-RSP, C-ECHO-RSP, or a refusal of another request) as P-DATA-TF PDUs.
// dcmjs-dimse built every response through a dcmjs dataset round trip, about a quarter of a
// millisecond and a burst of garbage per instance on the acknowledgement path; a response command
// set is a handful of fixed elements (PS3.7 §9.3, §E.1), so we write it directly.
import {
  CommandField,
  NO_DATASET,
  RESPONSE_BIT,
  Tag,
  commandElement,
  commandText,
  ui,
  us,
  withGroupLength,
} from '../../dicom/command-set.ts';
import { pdvHeader } from '../../dicom/pdata.ts';

export interface Response {
  readonly presentationContextId: number;
  /** The request's CommandField; the response carries it with bit 15 set. */
  readonly requestField: number;
  readonly messageIdBeingRespondedTo: number;
  readonly sopClassUid: string | null;
  readonly sopInstanceUid: string | null;
  readonly status: number;
  /** (0000,0902), up to 64 characters; only on failures. */
  readonly errorComment?: string;
}

/** The command set of `r` (implicit VR LE, group length first, tags ascending). */
export function encodeResponseCommand(r: Response): Buffer {
  const elements: Buffer[] = [];
  if (r.sopClassUid) {
    elements.push(commandElement(Tag.AffectedSopClass, ui(r.sopClassUid)));
  }
  elements.push(
    commandElement(Tag.CommandField, us((r.requestField | RESPONSE_BIT) & 0xffff)),
    commandElement(Tag.RespondedTo, us(r.messageIdBeingRespondedTo)),
    commandElement(Tag.DatasetType, us(NO_DATASET)),
    commandElement(Tag.Status, us(r.status)),
  );
  if (r.errorComment) {
    elements.push(commandElement(Tag.ErrorComment, commandText(r.errorComment.slice(0, 64))));
  }
  if (r.sopInstanceUid) {
    elements.push(commandElement(Tag.AffectedSopInstance, ui(r.sopInstanceUid)));
  }
  return withGroupLength(elements);
}

/**
 * The response as P-DATA-TF PDUs no longer than `peerMaxPdu` (the requestor's receive limit;
 * 0 = none): one PDU normally, several command fragments for a peer with a tiny limit.
 */
export function encodeResponse(r: Response, peerMaxPdu: number): Buffer {
  const command = encodeResponseCommand(r);
  const room = peerMaxPdu === 0 ? command.length : Math.max(1, peerMaxPdu - 6);
  const parts: Buffer[] = [];
  for (let off = 0; off < command.length; off += room) {
    const piece = command.subarray(off, Math.min(off + room, command.length));
    parts.push(pdvHeader(r.presentationContextId, true, off + piece.length === command.length, piece.length), piece);
  }
  return Buffer.concat(parts);
}

/** A C-STORE-RSP (PS3.7 §9.3.1.2). */
export function storeResponse(o: Omit<Response, 'requestField'>): Response {
  return { ...o, requestField: CommandField.CStoreRq };
}
