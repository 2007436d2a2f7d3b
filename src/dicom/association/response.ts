//! Responses of the C-STORE role (PS3.7 §9.3): a C-STORE-RSP or C-ECHO-RSP command set, with what an SCU acts on.
import { CommandError, NO_DATASET, Tag, commandString, commandU16 as u16, readCommand } from '../command-set.ts';

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
