//! The DIMSE layer of one association: PDVs into command sets and datasets; C-ECHO and C-STORE answered, anything else refused.
// Every complete command set gets an answer or, when it cannot be read, an A-ABORT (the caller
// turns the thrown PduError into one): nothing a peer sends can leave a message unanswered. One
// message is handled at a time, as the asynchronous-operations window of 1 we negotiate says.
// This file reassembles the fragments; commands.ts acts on a command set, store.ts receives a
// C-STORE's dataset, and answers.ts answers both.
import { decodePData, singlePdvParts, type Pdv } from '../../dicom/pdata.ts';
import { PduError } from '../../dicom/pdu.ts';
import type { DaemonEvents, Logger } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import { createAnswers } from './answers.ts';
import { CommandSetError, dispatchCommand, type Target } from './commands.ts';
import type { AcceptedContext } from './negotiate.ts';
import { createStoreReceiver } from './store.ts';

/** A command set is a few hundred bytes; anything near this is not one. */
const MAX_COMMAND_BYTES = 64 * 1024;
/** Datasets of requests we refuse are read and dropped, up to this size. */
const MAX_DISCARDED_BYTES = 16 * 1024 * 1024;

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

export function createMessageHandler(d: MessageDeps): MessageHandler {
  let commandParts: Buffer[] = [];
  let commandBytes = 0;
  let commandContext: number | null = null;
  let dataset: Target | null = null;
  const answers = createAnswers(d);
  const store = createStoreReceiver(d, answers);

  function writeData(t: Target, data: Buffer): void {
    if (t.kind === 'discard') {
      t.bytes += data.length;
      if (t.bytes > MAX_DISCARDED_BYTES) {
        throw new CommandSetError('Dataset of a refused request is larger than 16 MiB.', 6);
      }
      return;
    }
    store.write(t, data);
  }

  function onPdv(pdv: Pdv): void {
    if (store.storing) {
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
        store.finish(t);
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
    dataset = dispatchCommand(command, pdv.contextId, ctx, d, answers);
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
      return store.ours;
    },
    settled: () => store.settled(),
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
      return store.instances;
    },
    get bytes() {
      return store.bytes;
    },
  };
}
