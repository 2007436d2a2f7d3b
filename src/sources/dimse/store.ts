//! The C-STORE receive path: a dataset streamed into the intake at the disk's pace, then its C-STORE-RSP.
// Memory stays flat whatever the instance size: while the disk is slower than the network the
// socket is not read. The response waits for the intake's answer (stored, or refused with its
// status), so Success is never sent for what is not on disk; until then it is our turn, and the
// peer may not send its next message (the asynchronous operations window is 1).
import { CommandField } from '../../dicom/command-set.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { IngestResult, Logger } from '../../contracts/component.ts';
import type { Answers } from './answers.ts';
import type { StoreTarget } from './commands.ts';
import { StoreStatus, storeStatusFor } from './status.ts';

export interface StoreDeps {
  readonly log: Logger;
  /** Stops and restarts reading the socket, while the disk is slower than the network. */
  readonly pause: () => void;
  readonly resume: () => void;
  /** Called when `ours` may have changed. */
  readonly changed: () => void;
}

export interface StoreReceiver {
  /** Writes a fragment of the instance's dataset. */
  write(t: StoreTarget, data: Buffer): void;
  /** The dataset is complete: stores the instance, then answers. */
  finish(t: StoreTarget): void;
  /** An instance is being stored (its response not sent yet). */
  readonly storing: boolean;
  /** We are storing an instance or waiting for the disk. */
  readonly ours: boolean;
  /** Resolves once no instance is being stored (its response sent). */
  settled(): Promise<void>;
  readonly instances: number;
  readonly bytes: number;
}

export function createStoreReceiver(d: StoreDeps, answers: Answers): StoreReceiver {
  const { respond, refuse } = answers;
  let storing: Promise<void> | null = null;
  let waitingForDisk = false;
  let instances = 0;
  let bytes = 0;

  function writeData(t: StoreTarget, data: Buffer): void {
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

  function finishStore(t: StoreTarget): void {
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

  return {
    write: writeData,
    finish: finishStore,
    get storing() {
      return storing !== null;
    },
    get ours() {
      return storing !== null || waitingForDisk;
    },
    settled: () => storing ?? Promise.resolve(),
    get instances() {
      return instances;
    },
    get bytes() {
      return bytes;
    },
  };
}
