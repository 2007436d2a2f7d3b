//! Q/R command sets (PS3.7 §9.3): C-FIND, C-MOVE, C-GET and C-CANCEL requests out, their responses and C-GET's C-STORE sub-operations in.
import {
  CommandError,
  CommandField,
  NO_DATASET,
  RESPONSE_BIT,
  Tag,
  commandElement,
  commandString,
  commandText,
  commandU16,
  readCommand,
  ui,
  us,
  withGroupLength,
} from '../command-set.ts';

const DATASET_PRESENT = 0x0000;
const PRIORITY_MEDIUM = 0x0000;

/** C-FIND-RQ, C-MOVE-RQ or C-GET-RQ with an identifier following (PS3.7 Tables 9.3-2, 9.3-3, 9.3-4). */
export function encodeQueryRq(o: {
  field: number;
  messageId: number;
  sopClassUid: string;
  moveDestination?: string;
}): Buffer {
  const elements = [
    commandElement(Tag.AffectedSopClass, ui(o.sopClassUid)),
    commandElement(Tag.CommandField, us(o.field)),
    commandElement(Tag.MessageId, us(o.messageId)),
  ];
  if (o.moveDestination !== undefined) {
    elements.push(commandElement(Tag.MoveDestination, commandText(o.moveDestination)));
  }
  elements.push(
    commandElement(Tag.Priority, us(PRIORITY_MEDIUM)),
    commandElement(Tag.DatasetType, us(DATASET_PRESENT)),
  );
  return withGroupLength(elements);
}

/** C-CANCEL-RQ for the request `messageId` (PS3.7 §9.3.2.3); never answered by the peer. */
export function encodeCancelRq(messageId: number): Buffer {
  return withGroupLength([
    commandElement(Tag.CommandField, us(CommandField.CCancelRq)),
    commandElement(Tag.RespondedTo, us(messageId)),
    commandElement(Tag.DatasetType, us(NO_DATASET)),
  ]);
}

/** C-STORE-RSP to a sub-operation of our C-GET. */
export function encodeStoreRsp(o: {
  messageId: number;
  sopClassUid: string;
  sopInstanceUid: string;
  status: number;
  errorComment?: string;
}): Buffer {
  const elements = [
    commandElement(Tag.AffectedSopClass, ui(o.sopClassUid)),
    commandElement(Tag.CommandField, us(CommandField.CStoreRsp)),
    commandElement(Tag.RespondedTo, us(o.messageId)),
    commandElement(Tag.DatasetType, us(NO_DATASET)),
    commandElement(Tag.Status, us(o.status)),
  ];
  if (o.errorComment) {
    elements.push(commandElement(Tag.ErrorComment, commandText(o.errorComment.slice(0, 64))));
  }
  elements.push(commandElement(Tag.AffectedSopInstance, ui(o.sopInstanceUid)));
  return withGroupLength(elements);
}

/** Any command set the peer sends us, with what a Q/R requestor reads. */
export interface DimseCommand {
  readonly commandField: number;
  readonly isResponse: boolean;
  readonly messageId: number | null;
  readonly messageIdBeingRespondedTo: number | null;
  readonly status: number | null;
  readonly errorComment: string | null;
  readonly hasDataset: boolean;
  readonly affectedSopClassUid: string | null;
  readonly affectedSopInstanceUid: string | null;
  /** Sub-operation counts of C-MOVE/C-GET responses; null when absent (optional on the final one). */
  readonly remaining: number | null;
  readonly completed: number | null;
  readonly failed: number | null;
  readonly warning: number | null;
  /** C-STORE sub-operations of a C-MOVE name the AE that asked for them (PS3.7 §9.3.1.1). */
  readonly moveOriginatorAe: string | null;
  /** (0008,0058) found inside the command set itself (Orthanc's C-GET responses), else empty. */
  readonly failedSopInstanceUids: readonly string[];
}

const FAILED_SOP_INSTANCE_UID_LIST = 0x00080058;

/** Decodes a command set; throws CommandError when it is unreadable or lacks CommandField. */
export function decodeCommand(b: Buffer): DimseCommand {
  let failedSopInstanceUids: string[] = [];
  // Elements of other groups are tolerated in what a PACS answers us (see readCommand).
  const m = readCommand(b, (tag, value) => {
    if (tag === FAILED_SOP_INSTANCE_UID_LIST) {
      failedSopInstanceUids = value
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .split('\\')
        .filter(Boolean);
    }
  });
  const commandField = commandU16(m, Tag.CommandField);
  if (commandField === null) {
    throw new CommandError('Command set lacks CommandField.');
  }
  const isResponse = (commandField & RESPONSE_BIT) !== 0;
  const status = commandU16(m, Tag.Status);
  if (isResponse && status === null) {
    throw new CommandError('Response command lacks Status.');
  }
  return {
    commandField,
    isResponse,
    status,
    messageId: commandU16(m, Tag.MessageId),
    messageIdBeingRespondedTo: commandU16(m, Tag.RespondedTo),
    errorComment: commandString(m, Tag.ErrorComment) || null,
    hasDataset: (commandU16(m, Tag.DatasetType) ?? NO_DATASET) !== NO_DATASET,
    affectedSopClassUid: commandString(m, Tag.AffectedSopClass),
    affectedSopInstanceUid: commandString(m, Tag.AffectedSopInstance),
    remaining: commandU16(m, Tag.RemainingSubOperations),
    completed: commandU16(m, Tag.CompletedSubOperations),
    failed: commandU16(m, Tag.FailedSubOperations),
    warning: commandU16(m, Tag.WarningSubOperations),
    moveOriginatorAe: commandString(m, Tag.MoveOriginatorAe),
    failedSopInstanceUids,
  };
}
