//! The Q/R role of a requestor association: requests with identifiers out, responses with identifiers in, and C-GET's C-STORE sub-operations received on the same association.
// Unlike the C-STORE role, the peer may send datasets (C-FIND matches) and requests (C-STORE-RQ
// during our C-GET); a stored instance is streamed to the caller's store handler and answered only
// after that handler's `finish()` settles. Waiting for a response is an idle deadline: every PDU
// from the peer starts it again, and it does not run while we store (the peer waits for us then).
import { CommandError, CommandField } from '../command-set.ts';
import type { Pdv } from '../pdata.ts';
import { PduError, type ContextResult } from '../pdu.ts';
import { QrError } from '../qr/failure.ts';
import { decodeCommand, encodeStoreRsp, type DimseCommand } from '../qr/messages.ts';
import type { IncomingStore, StoreHandler } from './incoming-store.ts';
import { openRequestor, type RequestorOptions } from './requestor.ts';

export interface QrAssociationOptions extends RequestorOptions {
  /** Receives C-STORE sub-operations (C-GET); without one a C-STORE-RQ is a protocol error. */
  readonly store?: StoreHandler;
}

/** A response and its dataset (a C-FIND match), if any. */
export interface ResponseMessage {
  readonly contextId: number;
  readonly command: DimseCommand;
  readonly dataset: Buffer | null;
}

export interface QrAssociation {
  /** Accepted context id → transfer syntax. */
  readonly accepted: ReadonlyMap<number, string>;
  readonly results: readonly ContextResult[];
  /** C-STORE sub-operations received and answered, by outcome. */
  readonly received: { readonly stored: number; readonly refused: number };
  /** Sends a command and, if given, its dataset (small: identifiers). */
  send(contextId: number, command: Buffer, dataset?: Buffer): void;
  /**
   * The next response. Fails after `idleMs` without any PDU from the peer; time spent storing a
   * C-GET sub-operation does not count (the peer is waiting for us then).
   */
  next(idleMs: number): Promise<ResponseMessage>;
  release(): Promise<void>;
  abort(err?: QrError): void;
  /**
   * Settles once the TCP connection is gone: a PACS counts an association until then, so a
   * caller limiting concurrent associations frees its slot only now.
   */
  readonly closed: Promise<void>;
}

// A C-FIND identifier is a few hundred bytes; anything near this is not one.
const MAX_RESPONSE_DATASET = 1024 * 1024;
const MAX_COMMAND = 64 * 1024;
const MAX_UNREAD = 10_000;

type Inbound =
  | {
      readonly kind: 'response';
      readonly contextId: number;
      readonly command: DimseCommand;
      parts: Buffer[];
      bytes: number;
    }
  | {
      readonly kind: 'store';
      readonly contextId: number;
      readonly command: DimseCommand;
      readonly target: IncomingStore;
    };
type Storing = Extract<Inbound, { kind: 'store' }>;

/** Opens an association; resolves once accepted, rejects with a QrError otherwise. */
export async function openQrAssociation(o: QrAssociationOptions): Promise<QrAssociation> {
  const responses: ResponseMessage[] = [];
  let commandParts: Buffer[] = [];
  let commandBytes = 0;
  let inbound: Inbound | null = null;
  let storing: Promise<void> | null = null;
  const received = { stored: 0, refused: 0 };

  const a = openRequestor(o, {
    error: (kind, message, reject) => new QrError(kind, message, reject ? { reject } : {}),
    onPdv,
    onFail() {
      const pending = inbound;
      inbound = null;
      if (pending?.kind === 'store') {
        void pending.target.abort().catch(() => undefined);
      }
    },
  });

  function deliver(m: ResponseMessage): void {
    if (a.deliver(m)) {
      return;
    }
    if (responses.length >= MAX_UNREAD) {
      throw new PduError('too many unread responses');
    }
    responses.push(m);
  }

  function beginStore(cmd: DimseCommand, contextId: number): Inbound {
    const sopClassUid = cmd.affectedSopClassUid ?? '';
    const sopInstanceUid = cmd.affectedSopInstanceUid ?? '';
    if (!o.store) {
      throw new PduError('a C-STORE-RQ on an association that receives none');
    }
    if (!sopClassUid || !sopInstanceUid || cmd.messageId === null) {
      throw new PduError('a C-STORE-RQ without Affected SOP Class, Instance UID or MessageID');
    }
    const target = o.store({
      sopClassUid,
      sopInstanceUid,
      transferSyntaxUid: a.accepted.get(contextId) ?? '',
      callingAe: o.calledAe,
      calledAe: o.callingAe,
      peerIp: a.peerIp,
    });
    return { kind: 'store', contextId, command: cmd, target };
  }

  function finishStore(s: Storing): void {
    const answer = (r: { status: number; comment?: string }): void => {
      if (a.failure()) {
        return;
      }
      if (r.status === 0) {
        received.stored++;
      } else {
        received.refused++;
      }
      const rsp = encodeStoreRsp({
        messageId: s.command.messageId ?? 0,
        sopClassUid: s.command.affectedSopClassUid ?? '',
        sopInstanceUid: s.command.affectedSopInstanceUid ?? '',
        status: r.status,
        ...(r.comment === undefined ? {} : { errorComment: r.comment }),
      });
      a.write(s.contextId, true, rsp, true);
    };
    a.holdIdle(true);
    storing = s.target
      .finish()
      .then(
        (out) =>
          out.ok ? { status: 0 } : { status: out.status ?? (out.retryable ? 0xa700 : 0xc000), comment: out.message },
        (err: unknown) => ({ status: 0xa700, comment: err instanceof Error ? err.message : String(err) }),
      )
      .then(answer)
      .finally(() => {
        storing = null;
        a.holdIdle(false);
      });
  }

  /** A dataset fragment of the response or instance being received. */
  function onDataset(pdv: Pdv, cur: Inbound): void {
    if (pdv.command) {
      throw new PduError('a command fragment inside a dataset');
    }
    if (pdv.contextId !== cur.contextId) {
      throw new PduError('dataset fragments on another context than their command');
    }
    if (cur.kind === 'response') {
      cur.bytes += pdv.data.length;
      if (cur.bytes > MAX_RESPONSE_DATASET) {
        throw new PduError('a response dataset larger than 1 MiB');
      }
      cur.parts.push(Buffer.from(pdv.data));
      if (pdv.last) {
        inbound = null;
        deliver({ contextId: cur.contextId, command: cur.command, dataset: Buffer.concat(cur.parts) });
      }
      return;
    }
    if (!cur.target.write(pdv.data)) {
      // Disk slower than the network: stop reading until the file catches up.
      a.pause();
      cur.target.drained().then(
        () => {
          a.resume();
        },
        (err: unknown) => {
          a.fail(
            new QrError(
              'interrupted',
              `storing a received instance failed: ${err instanceof Error ? err.message : String(err)}`,
            ),
          );
        },
      );
    }
    if (pdv.last) {
      inbound = null;
      finishStore(cur);
    }
  }

  function onPdv(pdv: Pdv): void {
    if (!a.accepted.has(pdv.contextId)) {
      throw new PduError(`a PDV on presentation context ${String(pdv.contextId)}, which was not accepted`);
    }
    if (inbound) {
      onDataset(pdv, inbound);
      return;
    }
    if (!pdv.command) {
      throw new PduError('a dataset fragment where a command was expected');
    }
    commandBytes += pdv.data.length;
    if (commandBytes > MAX_COMMAND) {
      throw new PduError('a command set larger than 64 KiB');
    }
    commandParts.push(Buffer.from(pdv.data));
    if (!pdv.last) {
      return;
    }
    const buf = Buffer.concat(commandParts);
    commandParts = [];
    commandBytes = 0;
    let cmd: DimseCommand;
    try {
      cmd = decodeCommand(buf);
    } catch (err) {
      if (err instanceof CommandError) {
        throw new PduError(`unreadable command set: ${err.message}`);
      }
      throw err;
    }
    if (cmd.isResponse) {
      if (cmd.hasDataset) {
        inbound = { kind: 'response', contextId: pdv.contextId, command: cmd, parts: [], bytes: 0 };
      } else {
        deliver({ contextId: pdv.contextId, command: cmd, dataset: null });
      }
      return;
    }
    if (cmd.commandField !== CommandField.CStoreRq || !cmd.hasDataset) {
      throw new PduError(`an unexpected request (command 0x${cmd.commandField.toString(16)})`);
    }
    if (storing) {
      throw new PduError('a C-STORE-RQ before our answer to the previous one (the operations window is 1)');
    }
    inbound = beginStore(cmd, pdv.contextId);
  }

  await a.opened;
  // Negotiated once, by the A-ASSOCIATE-AC: fixed from here on.
  return {
    accepted: a.accepted,
    results: a.results,
    received,
    send(contextId, command, dataset) {
      a.write(contextId, true, command, true);
      if (dataset) {
        a.write(contextId, false, dataset, true);
      }
    },
    next(idleMs) {
      const m = responses.shift();
      return m ? Promise.resolve(m) : a.nextMessage<ResponseMessage>('response', idleMs, true);
    },
    async release() {
      const early = a.failure();
      if (early) {
        throw early;
      }
      // An instance still being stored is answered first: releasing under it would lose its response.
      if (storing) {
        await storing;
      }
      // The association may have failed while we waited (release rethrows it).
      await a.release();
    },
    abort(err) {
      a.fail(err ?? new QrError('interrupted', 'the association was aborted'));
    },
    closed: a.closed,
  };
}
