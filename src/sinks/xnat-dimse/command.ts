//! DIMSE command sets (PS3.7 §9.3, §E): C-STORE-RQ and C-ECHO-RQ out, their responses in.
// Command sets are always Implicit VR Little Endian with a leading group length (PS3.7 §6.3.1),
// whatever transfer syntax the presentation context carries the dataset in.
import { commandElement, ui, us, withGroupLength } from '../../dicom/command-set.ts';

export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
} as const;

/** CommandDataSetType: 0x0101 means "no dataset follows"; anything else means one does. */
export const NO_DATASET = 0x0101;
const DATASET_PRESENT = 0x0000;
const PRIORITY_MEDIUM = 0x0000;
export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

const TAG_AFFECTED_SOP_CLASS = 0x0002;
const TAG_COMMAND_FIELD = 0x0100;
const TAG_MESSAGE_ID = 0x0110;
const TAG_RESPONDED_TO = 0x0120;
const TAG_PRIORITY = 0x0700;
const TAG_DATASET_TYPE = 0x0800;
const TAG_STATUS = 0x0900;
const TAG_OFFENDING_ELEMENT = 0x0901;
const TAG_ERROR_COMMENT = 0x0902;
const TAG_AFFECTED_SOP_INSTANCE = 0x1000;





export interface StoreRq {
  readonly messageId: number;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
}

/** C-STORE-RQ (PS3.7 Table 9.3-1), medium priority, a dataset follows. */
export function encodeStoreRq(rq: StoreRq): Buffer {
  return withGroupLength([
    commandElement(TAG_AFFECTED_SOP_CLASS, ui(rq.sopClassUid)),
    commandElement(TAG_COMMAND_FIELD, us(CommandField.CStoreRq)),
    commandElement(TAG_MESSAGE_ID, us(rq.messageId)),
    commandElement(TAG_PRIORITY, us(PRIORITY_MEDIUM)),
    commandElement(TAG_DATASET_TYPE, us(DATASET_PRESENT)),
    commandElement(TAG_AFFECTED_SOP_INSTANCE, ui(rq.sopInstanceUid)),
  ]);
}

/** C-ECHO-RQ (PS3.7 Table 9.3-12). */
export function encodeEchoRq(messageId: number): Buffer {
  return withGroupLength([
    commandElement(TAG_AFFECTED_SOP_CLASS, ui(VERIFICATION_SOP_CLASS)),
    commandElement(TAG_COMMAND_FIELD, us(CommandField.CEchoRq)),
    commandElement(TAG_MESSAGE_ID, us(messageId)),
    commandElement(TAG_DATASET_TYPE, us(NO_DATASET)),
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

export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/** Reads a command set (implicit VR LE, group 0000 only) into tag → value. */
export function readCommand(b: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let pos = 0;
  while (pos < b.length) {
    if (pos + 8 > b.length) {throw new CommandError('Command set ends inside an element header.');}
    const group = b.readUInt16LE(pos);
    const elem = b.readUInt16LE(pos + 2);
    const len = b.readUInt32LE(pos + 4);
    if (group !== 0x0000) {throw new CommandError(`Command set holds an element of group ${group.toString(16).padStart(4, '0')}.`);}
    if (pos + 8 + len > b.length) {throw new CommandError('Command set ends inside an element value.');}
    out.set(elem, b.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  return out;
}

function u16(m: Map<number, Buffer>, elem: number): number | null {
  const v = m.get(elem);
  return v && v.length >= 2 ? v.readUInt16LE(0) : null;
}

const str = (v: Buffer | undefined): string | null => (v === undefined ? null : v.toString('latin1').replace(/[\0 ]+$/, ''));

/** Decodes a response command; a missing CommandField or Status is a protocol error. */
export function decodeResponse(b: Buffer): DimseResponse {
  const m = readCommand(b);
  const commandField = u16(m, TAG_COMMAND_FIELD);
  const status = u16(m, TAG_STATUS);
  if (commandField === null || status === null) {throw new CommandError('Response command lacks CommandField or Status.');}
  const offending = m.get(TAG_OFFENDING_ELEMENT);
  const offendingElements: string[] = [];
  for (let i = 0; offending && i + 4 <= offending.length; i += 4) {
    const g = offending.readUInt16LE(i).toString(16).toUpperCase().padStart(4, '0');
    const e = offending.readUInt16LE(i + 2).toString(16).toUpperCase().padStart(4, '0');
    offendingElements.push(`(${g},${e})`);
  }
  return {
    commandField,
    messageIdBeingRespondedTo: u16(m, TAG_RESPONDED_TO),
    status,
    errorComment: str(m.get(TAG_ERROR_COMMENT)) || null,
    offendingElements,
    affectedSopInstanceUid: str(m.get(TAG_AFFECTED_SOP_INSTANCE)),
    hasDataset: (u16(m, TAG_DATASET_TYPE) ?? NO_DATASET) !== NO_DATASET,
  };
}

/** "0xA700" */
export function statusHex(status: number): string {
  return `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
}
