//! The C-STORE role of a requestor association: datasets streamed out with back-pressure, bare response commands in.
// The xnat-dimse sink sends C-STORE-RQs (and C-ECHO-RQ) one at a time over it (its scu.ts); the
// peer sends nothing but their responses, so a dataset or a request from it is a protocol error.
import { PduError, type ContextResult } from '../pdu.ts';
import { DimseError } from './failure.ts';
import { openRequestor, type RequestorOptions } from './requestor.ts';
import { decodeResponse, type DimseResponse } from './response.ts';

/** Where and how to associate; `responseTimeoutMs` also bounds each response and the socket draining. */
export type AssociationOptions = RequestorOptions;

/** Settles once the bytes of one `send` have been handed to the kernel (or the socket died). */
export interface Written {
  readonly written: Promise<void>;
  /** True when the socket's buffer is over its high-water mark: await `drain()` before sending more. */
  readonly needDrain: boolean;
}

export interface Association {
  /** Accepted context id → the transfer syntax the peer chose for it. */
  readonly accepted: ReadonlyMap<number, string>;
  readonly results: readonly ContextResult[];
  /** Bytes of data per PDV: the peer's max PDU length less the PDV item header, even. */
  readonly maxFragment: number;
  /** Sends `data` as PDVs of at most `maxFragment` bytes, each in its own P-DATA-TF; `last` marks the final fragment. */
  send(contextId: number, command: boolean, data: Buffer, last: boolean): Written;
  /** Resolves when the socket can take more data; fails after `responseTimeoutMs` without progress. */
  drain(): Promise<void>;
  /** The next response command (in arrival order). */
  response(): Promise<DimseResponse>;
  /** A-RELEASE-RQ, wait for A-RELEASE-RP, close. */
  release(): Promise<void>;
  /** A-ABORT and close; later calls fail with `err` (default: `interrupted`). */
  abort(err?: DimseError): void;
}

// Responses nobody has asked for yet; we send one request at a time, so a few at most.
const MAX_UNREAD_RESPONSES = 4;

/**
 * Opens an association; resolves once the peer accepted it, rejects with a DimseError otherwise.
 * Error messages do not name the peer: callers prefix `calledAe@host:port`.
 */
export async function associate(o: AssociationOptions): Promise<Association> {
  const responses: DimseResponse[] = [];
  let commandParts: Buffer[] = [];
  const a = openRequestor(o, {
    error: (kind, message, reject) => new DimseError(kind, message, reject ?? null),
    onPdv(pdv) {
      if (!pdv.command) {
        throw new PduError('a dataset where only response commands are expected');
      }
      commandParts.push(pdv.data);
      if (!pdv.last) {
        return;
      }
      const rsp = decodeResponse(
        commandParts.length === 1 ? (commandParts[0] ?? Buffer.alloc(0)) : Buffer.concat(commandParts),
      );
      commandParts = [];
      if (rsp.hasDataset) {
        throw new PduError('a response announcing a dataset');
      }
      if (a.deliver(rsp)) {
        return;
      }
      if (responses.length >= MAX_UNREAD_RESPONSES) {
        throw new PduError('responses to requests never sent');
      }
      responses.push(rsp);
    },
  });
  await a.opened;
  // Negotiated once, by the A-ASSOCIATE-AC: fixed from here on.
  return {
    accepted: a.accepted,
    results: a.results,
    maxFragment: a.maxFragment,
    send(contextId, command, data, last) {
      let done: () => void = () => undefined;
      const written = new Promise<void>((r) => {
        done = r;
      });
      const ok = a.write(contextId, command, data, last, () => {
        done();
      });
      return { written, needDrain: !ok };
    },
    drain: () => a.drain(),
    response() {
      const next = responses.shift();
      return next ? Promise.resolve(next) : a.nextMessage<DimseResponse>('response', o.responseTimeoutMs, false);
    },
    release: () => a.release(),
    abort(err) {
      a.fail(err ?? new DimseError('interrupted', 'the association was aborted'));
    },
  };
}
