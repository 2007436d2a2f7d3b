//! The DIMSE layer of one association: PDVs into command sets and datasets; C-ECHO and C-STORE answered, anything else refused.
// Every complete command set gets an answer or, when it cannot be read, an A-ABORT (the caller
// turns the thrown PduError into one): nothing a peer sends can leave a message unanswered. One
// message is handled at a time, as the asynchronous-operations window of 1 we negotiate says.
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
import { decodePData, singlePdvParts, type Pdv } from '../../dicom/pdata.ts';
import { PduError } from '../../dicom/pdu.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { DaemonEvents, IncomingInstance, IngestResult, Logger } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import type { AcceptedContext } from './negotiate.ts';
import { encodeResponse, type Response } from './response.ts';
import { StoreStatus, storeStatusFor } from './status.ts';

/** A command set is a few hundred bytes; anything near this is not one. */
const MAX_COMMAND_BYTES = 64 * 1024;
/** Datasets of requests we refuse are read and dropped, up to this size. */
const MAX_DISCARDED_BYTES = 16 * 1024 * 1024;

/** A DIMSE message the gateway cannot act on (ERR_COMMAND_INVALID); the connection aborts. */
export class CommandSetError extends PduError {
  override readonly name: string = 'CommandSetError';
}

export interface MessageDeps {
  readonly accepted: ReadonlyMap<number, AcceptedContext>;
  readonly intake: Intake;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
  readonly associationUid: string;
  readonly log: Logger;
  readonly events: DaemonEvents;
  /** The requestor's receive limit (0 = none): responses are cut to fit. */
  readonly peerMaxPdu: number;
  /** Writes a response to the peer (a no-op once the connection is closing). */
  readonly send: (bytes: Buffer) => void;
  /** Stops and restarts reading the socket, while the disk is slower than the network. */
  readonly pause: () => void;
  readonly resume: () => void;
  /** Called when `receiving` or `ours` may have changed. */
  readonly changed: () => void;
}

export interface MessageHandler {
  /** Handles one P-DATA-TF body; throws PduError for what must end in an A-ABORT. */
  onPData(body: Buffer): void;
  /** The same for a body that arrived in several chunks: true when it was one dataset PDV, taken
   *  as views of the chunks (no join of ~0.5 MB per CT instance); false: join it for onPData. */
  onPDataParts(parts: readonly Buffer[], length: number): boolean;
  /** A message has started arriving and is not complete: the peer's turn. */
  readonly receiving: boolean;
  /** We are storing an instance or waiting for the disk: our turn. */
  readonly ours: boolean;
  /** Resolves once no instance is being stored (its response sent). */
  settled(): Promise<void>;
  /** Drops a half-received message (its instance file removed). Never rejects. */
  abandon(): Promise<void>;
  readonly instances: number;
  readonly bytes: number;
}

type Target =
  | {
      readonly kind: 'store';
      readonly incoming: IncomingInstance;
      readonly contextId: number;
      readonly messageId: number;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
    }
  | { readonly kind: 'discard'; readonly contextId: number; readonly respond: () => void; bytes: number };

export function createMessageHandler(d: MessageDeps): MessageHandler {
  let commandParts: Buffer[] = [];
  let commandBytes = 0;
  let commandContext: number | null = null;
  let dataset: Target | null = null;
  let storing: Promise<void> | null = null;
  let waitingForDisk = false;
  let instances = 0;
  let bytes = 0;

  function respond(r: Response): void {
    d.send(encodeResponse(r, d.peerMaxPdu));
  }

  function refuse(
    code: ErrorCode,
    message: string,
    status: number,
    r: Omit<Response, 'status' | 'errorComment'>,
  ): void {
    d.log.warn(
      { peerIp: d.peerIp, callingAe: d.callingAe, code, status, reason: message },
      r.requestField === CommandField.CStoreRq ? 'C-STORE refused.' : 'DIMSE request refused.',
    );
    if (r.requestField === CommandField.CStoreRq) {
      d.events.emit('instance.failed', { source: 'dimse', code });
    }
    respond({ ...r, status, errorComment: `${code}: ${message}` });
  }

  /** Reads the dataset announced by a request we refuse, then answers. */
  function discardThen(contextId: number, hasDataset: boolean, answer: () => void): void {
    if (hasDataset) {
      dataset = { kind: 'discard', contextId, respond: answer, bytes: 0 };
    } else {
      answer();
    }
  }

  function onCommand(buf: Buffer, contextId: number, ctx: AcceptedContext): void {
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
      return;
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
      return;
    }
    if (field !== CommandField.CStoreRq) {
      discardThen(contextId, hasDataset, () => {
        refuse(
          ErrorCode.COMMAND_UNSUPPORTED,
          `Operation 0x${field.toString(16).padStart(4, '0')} is not supported; this is a storage SCP.`,
          StoreStatus.UnrecognizedOperation,
          base,
        );
      });
      return;
    }
    if (!hasDataset) {
      refuse(ErrorCode.COMMAND_INVALID, 'C-STORE-RQ without a dataset.', StoreStatus.CannotUnderstand, base);
      return;
    }
    if (!sopClassUid || !sopInstanceUid) {
      discardThen(contextId, true, () => {
        refuse(
          ErrorCode.COMMAND_INVALID,
          'C-STORE-RQ without Affected SOP Class or Instance UID.',
          StoreStatus.CannotUnderstand,
          base,
        );
      });
      return;
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
    dataset = { kind: 'store', incoming, contextId, messageId, sopClassUid, sopInstanceUid };
  }

  function writeData(t: Target, data: Buffer): void {
    if (t.kind === 'discard') {
      t.bytes += data.length;
      if (t.bytes > MAX_DISCARDED_BYTES) {
        throw new CommandSetError('Dataset of a refused request is larger than 16 MiB.', 6);
      }
      return;
    }
    if (t.incoming.write(data) || waitingForDisk) {
      return;
    }
    // Disk slower than the network: stop reading the socket until the file catches up, so memory
    // stays flat whatever the instance size.
    waitingForDisk = true;
    d.pause();
    d.changed();
    t.incoming
      .drained()
      .then(() => {
        waitingForDisk = false;
        d.resume();
        d.changed();
      })
      .catch((err: unknown) => {
        d.log.error({ err }, 'Resuming a paused DICOM connection failed.');
      });
  }

  function finishStore(t: Extract<Target, { kind: 'store' }>): void {
    const answer = (result: IngestResult): void => {
      if (result.ok) {
        instances++;
        bytes += t.incoming.bytesWritten;
      }
      const base = {
        presentationContextId: t.contextId,
        requestField: CommandField.CStoreRq,
        messageIdBeingRespondedTo: t.messageId,
        sopClassUid: t.sopClassUid,
        sopInstanceUid: t.sopInstanceUid,
      };
      if (result.ok) {
        respond({ ...base, status: StoreStatus.Success });
      } else {
        refuse(result.code, result.message, storeStatusFor(result), base);
      }
    };
    storing = t.incoming
      .finish()
      .catch((err: unknown): IngestResult => {
        d.log.error({ err }, 'Unexpected failure while storing an instance.');
        return { ok: false, code: ErrorCode.SPOOL_WRITE, retryable: true, message: describeError(err) };
      })
      .then(answer)
      .catch((err: unknown) => {
        d.log.error({ err }, 'Answering a C-STORE failed.');
      })
      .finally(() => {
        storing = null;
        d.changed();
      });
  }

  function onPdv(pdv: Pdv): void {
    if (storing) {
      throw new CommandSetError(
        'A message arrived before the response to the previous one (the asynchronous operations window is 1).',
        2,
      );
    }
    const ctx = d.accepted.get(pdv.contextId);
    if (!ctx) {
      throw new PduError(`A PDV on presentation context ${String(pdv.contextId)}, which was not accepted.`, 6);
    }
    const t = dataset;
    if (t) {
      if (pdv.command) {
        throw new CommandSetError('A command fragment arrived inside a dataset.', 2);
      }
      if (pdv.contextId !== t.contextId) {
        throw new CommandSetError('Dataset fragments on another presentation context than their command.', 6);
      }
      writeData(t, pdv.data);
      if (!pdv.last) {
        return;
      }
      dataset = null;
      if (t.kind === 'discard') {
        t.respond();
      } else {
        finishStore(t);
      }
      return;
    }
    if (!pdv.command) {
      throw new CommandSetError('A dataset fragment arrived where a command was expected.', 2);
    }
    if (commandContext !== null && commandContext !== pdv.contextId) {
      throw new CommandSetError('Command fragments on different presentation contexts.', 6);
    }
    commandContext = pdv.contextId;
    commandBytes += pdv.data.length;
    if (commandBytes > MAX_COMMAND_BYTES) {
      throw new CommandSetError('Command set larger than 64 KiB.', 6);
    }
    commandParts.push(pdv.data);
    if (!pdv.last) {
      return;
    }
    const command = commandParts.length === 1 ? (commandParts[0] ?? Buffer.alloc(0)) : Buffer.concat(commandParts);
    commandParts = [];
    commandBytes = 0;
    commandContext = null;
    onCommand(command, pdv.contextId, ctx);
  }

  return {
    onPData(body) {
      for (const pdv of decodePData(body)) {
        onPdv(pdv);
      }
    },
    onPDataParts(parts, length) {
      const pdv = singlePdvParts(parts, length);
      if (!pdv || pdv.command) {
        return false;
      }
      pdv.parts.forEach((data, i) => {
        onPdv({ contextId: pdv.contextId, command: false, last: pdv.last && i === pdv.parts.length - 1, data });
      });
      return true;
    },
    get receiving() {
      return commandParts.length > 0 || dataset !== null;
    },
    get ours() {
      return storing !== null || waitingForDisk;
    },
    settled: () => storing ?? Promise.resolve(),
    async abandon() {
      const t = dataset;
      dataset = null;
      commandParts = [];
      if (t?.kind === 'store') {
        await t.incoming.abort().catch((err: unknown) => {
          d.log.error({ err }, 'Removing a partial spool file failed.');
        });
      }
    },
    get instances() {
      return instances;
    },
    get bytes() {
      return bytes;
    },
  };
}
