//! DIMSE command sets (PS3.7 §9.3, §E): C-STORE-RQ and C-ECHO-RQ out, their responses in.
// Command sets are always Implicit VR Little Endian with a leading group length (PS3.7 §6.3.1),
// whatever transfer syntax the presentation context carries the dataset in.
import {
  CommandError,
  CommandField,
  NO_DATASET,
  Tag,
  commandElement,
  commandString,
  commandU16 as u16,
  readCommand,
  ui,
  us,
  withGroupLength,
} from '../../dicom/command-set.ts';
import { VERIFICATION_SOP_CLASS } from '../../dicom/sop-class.ts';

export { VERIFICATION_SOP_CLASS } from '../../dicom/sop-class.ts';
export { CommandError, CommandField, NO_DATASET } from '../../dicom/command-set.ts';

const DATASET_PRESENT = 0x0000;
const PRIORITY_MEDIUM = 0x0000;

export interface StoreRq {
  readonly messageId: number;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
}

/** C-STORE-RQ (PS3.7 Table 9.3-1), medium priority, a dataset follows. */
export function encodeStoreRq(rq: StoreRq): Buffer {
  return withGroupLength([
    commandElement(Tag.AffectedSopClass, ui(rq.sopClassUid)),
    commandElement(Tag.CommandField, us(CommandField.CStoreRq)),
    commandElement(Tag.MessageId, us(rq.messageId)),
    commandElement(Tag.Priority, us(PRIORITY_MEDIUM)),
    commandElement(Tag.DatasetType, us(DATASET_PRESENT)),
    commandElement(Tag.AffectedSopInstance, ui(rq.sopInstanceUid)),
  ]);
}

/** C-ECHO-RQ (PS3.7 Table 9.3-12). */
export function encodeEchoRq(messageId: number): Buffer {
  return withGroupLength([
    commandElement(Tag.AffectedSopClass, ui(VERIFICATION_SOP_CLASS)),
    commandElement(Tag.CommandField, us(CommandField.CEchoRq)),
    commandElement(Tag.MessageId, us(messageId)),
    commandElement(Tag.DatasetType, us(NO_DATASET)),
  ]);
}

/** The fields of a response command an SCU acts on. */
export interface DimseResponse {
  readonly commandField: number;
  readonly messageIdBeingRespondedTo: number | null;
  readonly status: number;
  readonly errorComment: string | null;
  /** (0000,0901) tags, "(gggg,eeee)" each. */
  readonly offendingElements: readonly string[];
  readonly affectedSopInstanceUid: string | null;
  /** True when the peer says a dataset follows the response (not expected for C-STORE/C-ECHO). */
  readonly hasDataset: boolean;
}

/** Decodes a response command; a missing CommandField or Status is a protocol error. */
export function decodeResponse(b: Buffer): DimseResponse {
  const m = readCommand(b);
  const commandField = u16(m, Tag.CommandField);
  const status = u16(m, Tag.Status);
  if (commandField === null || status === null) {
    throw new CommandError('Response command lacks CommandField or Status.');
  }
  const offending = m.get(Tag.OffendingElement);
  const offendingElements: string[] = [];
  for (let i = 0; offending && i + 4 <= offending.length; i += 4) {
    const g = offending.readUInt16LE(i).toString(16).toUpperCase().padStart(4, '0');
    const e = offending
      .readUInt16LE(i + 2)
      .toString(16)
      .toUpperCase()
      .padStart(4, '0');
    offendingElements.push(`(${g},${e})`);
  }
  return {
    commandField,
    messageIdBeingRespondedTo: u16(m, Tag.RespondedTo),
    status,
    errorComment: commandString(m, Tag.ErrorComment) || null,
    offendingElements,
    affectedSopInstanceUid: commandString(m, Tag.AffectedSopInstance),
    hasDataset: (u16(m, Tag.DatasetType) ?? NO_DATASET) !== NO_DATASET,
  };
}

/** "0xA700" */
export function statusHex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
