//! DIMSE command sets (PS3.7 §9.3, §E): C-STORE-RQ and C-ECHO-RQ out; their responses are read by the association (src/dicom/association/response.ts).
// Command sets are always Implicit VR Little Endian with a leading group length (PS3.7 §6.3.1),
// whatever transfer syntax the presentation context carries the dataset in.
import { CommandField, NO_DATASET, Tag, commandElement, ui, us, withGroupLength } from '../../dicom/command-set.ts';
import { VERIFICATION_SOP_CLASS } from '../../dicom/sop-class.ts';

export { VERIFICATION_SOP_CLASS } from '../../dicom/sop-class.ts';
export { CommandError, CommandField, NO_DATASET } from '../../dicom/command-set.ts';
export { decodeResponse, statusHex, type DimseResponse } from '../../dicom/association/response.ts';

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
