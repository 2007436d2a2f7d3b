//! Command dispatch: a complete command set read, then C-ECHO answered, a C-STORE begun, or the request refused.
// What cannot be read as a request is a CommandSetError: the connection aborts (PS3.8 A-ABORT,
// ERR_COMMAND_INVALID), since no response could name the message. What can be read but not acted
// on is answered with a failure status, after the dataset it announced has been read and dropped,
// so that dataset is never taken for the peer's next message.
import {
  CommandError,
  CommandField,
  NO_DATASET,
  RESPONSE_BIT,
  Tag,
  commandString,
  commandU16,
  readCommand,
} from '../../dicom/command-set.ts';
import { PduError } from '../../dicom/pdu.ts';
import { ErrorCode } from '../../errors.ts';
import type { IncomingInstance } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import type { Answers } from './answers.ts';
import type { AcceptedContext } from './negotiate.ts';
import { StoreStatus } from './status.ts';

/** A DIMSE message the gateway cannot act on (ERR_COMMAND_INVALID); the connection aborts. */
export class CommandSetError extends PduError {
  override readonly name: string = 'CommandSetError';
}

/** Where the dataset announced by a command goes: into the intake, or read and dropped before a refusal. */
export type Target =
  | {
      readonly kind: 'store';
      readonly incoming: IncomingInstance;
      readonly contextId: number;
      readonly messageId: number;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
    }
  | { readonly kind: 'discard'; readonly contextId: number; readonly respond: () => void; bytes: number };

/** A C-STORE whose dataset is being received. */
export type StoreTarget = Extract<Target, { kind: 'store' }>;

export interface CommandDeps {
  readonly intake: Intake;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
  readonly associationUid: string;
}

/** Reads the dataset announced by a request we refuse, then answers: its target, or null once answered. */
function discardThen(contextId: number, hasDataset: boolean, answer: () => void): Target | null {
  if (hasDataset) {
    return { kind: 'discard', contextId, respond: answer, bytes: 0 };
  }
  answer();
  return null;
}

/**
 * Acts on the command set `buf` that arrived on `contextId`: answers it now, or returns where the
 * dataset it announces goes (null when none follows). Throws CommandSetError for what cannot be read.
 */
export function dispatchCommand(
  buf: Buffer,
  contextId: number,
  ctx: AcceptedContext,
  d: CommandDeps,
  answers: Answers,
): Target | null {
  const { respond, refuse } = answers;
  let m: Map<number, Buffer>;
  try {
    m = readCommand(buf);
  } catch (err) {
    if (err instanceof CommandError) {
      throw new CommandSetError(`Unreadable command set: ${err.message}`, 6);
    }
    throw err;
  }
  const field = commandU16(m, Tag.CommandField);
  const datasetType = commandU16(m, Tag.DatasetType);
  if (field === null || datasetType === null) {
    throw new CommandSetError('Command set without CommandField or CommandDataSetType.', 6);
  }
  if (field & RESPONSE_BIT) {
    throw new CommandSetError(`A response command (0x${field.toString(16)}) arrived; we sent no request.`, 6);
  }
  const hasDataset = datasetType !== NO_DATASET;
  // C-CANCEL-RQ is never answered (PS3.7 §9.3.2.3); we run no operation it could cancel.
  if (field === CommandField.CCancelRq && !hasDataset) {
    return null;
  }
  const messageId = commandU16(m, Tag.MessageId);
  if (messageId === null) {
    throw new CommandSetError('Request command set without a MessageID.', 6);
  }
  const sopClassUid = commandString(m, Tag.AffectedSopClass);
  const sopInstanceUid = commandString(m, Tag.AffectedSopInstance);
  const base = {
    presentationContextId: contextId,
    requestField: field,
    messageIdBeingRespondedTo: messageId,
    sopClassUid,
    sopInstanceUid,
  };
  if (field === CommandField.CEchoRq) {
    if (hasDataset) {
      throw new CommandSetError('C-ECHO-RQ announcing a dataset.', 6);
    }
    respond({ ...base, status: StoreStatus.Success });
    return null;
  }
  if (field !== CommandField.CStoreRq) {
    return discardThen(contextId, hasDataset, () => {
      refuse(
        ErrorCode.COMMAND_UNSUPPORTED,
        `Operation 0x${field.toString(16).padStart(4, '0')} is not supported; this is a storage SCP.`,
        StoreStatus.UnrecognizedOperation,
        base,
      );
    });
  }
  if (!hasDataset) {
    refuse(ErrorCode.COMMAND_INVALID, 'C-STORE-RQ without a dataset.', StoreStatus.CannotUnderstand, base);
    return null;
  }
  if (!sopClassUid || !sopInstanceUid) {
    return discardThen(contextId, true, () => {
      refuse(
        ErrorCode.COMMAND_INVALID,
        'C-STORE-RQ without Affected SOP Class or Instance UID.',
        StoreStatus.CannotUnderstand,
        base,
      );
    });
  }
  const incoming = d.intake.begin({
    source: 'dimse',
    sopClassUid,
    sopInstanceUid,
    transferSyntaxUid: ctx.transferSyntax,
    callingAe: d.callingAe,
    calledAe: d.calledAe,
    peerIp: d.peerIp,
    associationUid: d.associationUid,
  });
  return { kind: 'store', incoming, contextId, messageId, sopClassUid, sopInstanceUid };
}
