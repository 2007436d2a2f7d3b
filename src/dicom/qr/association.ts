//! One Q/R association as a requestor: negotiation, requests out, responses with identifiers in, and C-GET's C-STORE sub-operations received on the same association.
// Built on the shared Upper Layer pieces (pdu.ts, pdu-framer.ts, command-set.ts). Like the
// xnat-dimse sink's association, every wait has a deadline, an AbortSignal aborts, and the first
// failure is kept and rethrown by every later call. Unlike it, the peer may send datasets (C-FIND
// matches) and requests (C-STORE-RQ during our C-GET); a stored instance is streamed to the
// caller's store handler and answered only after that handler's `finish()` settles.
import { connect, type Socket } from 'node:net';
import { CommandError, CommandField } from '../command-set.ts';
import {
  PduError,
  PduType,
  decodeAbort,
  decodeAssociateAc,
  decodeAssociateRj,
  decodePData,
  describeAbort,
  describeReject,
  encodeAbort,
  encodeAssociateRq,
  encodeReleaseRp,
  encodeReleaseRq,
  pdvHeader,
  type AssociateRq,
  type ContextResult,
  type Pdv,
} from '../pdu.ts';
import { createPduReader } from '../pdu-framer.ts';
import { QrError } from './failure.ts';
import { decodeCommand, encodeStoreRsp, type DimseCommand } from './messages.ts';

/** What the C-GET requestor is told about an instance arriving on its association. */
export interface StoreMeta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** The PACS (the C-STORE requestor) and us, as on the association. */
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
}

/** How a received instance ended: the C-STORE-RSP status follows from it. */
export type StoreOutcome =
  | { readonly ok: true }
  /** `status`: the C-STORE-RSP status to answer (default 0xA700 when retryable, 0xC000 otherwise). */
  | { readonly ok: false; readonly retryable: boolean; readonly message: string; readonly status?: number };

/**
 * One instance being received (the shape of the Intake's IncomingInstance, so a pull can hand
 * C-GET sub-operations to the spool like any source): dataset bytes in, then `finish()` makes them
 * durable; the PACS is answered Success only when it resolves ok.
 */
export interface IncomingStore {
  /** Appends dataset bytes; false asks the caller to wait for `drained()`. */
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  finish(): Promise<StoreOutcome>;
  /** Discards what was written (association ended mid-instance). Idempotent. */
  abort(): Promise<void>;
}

export type StoreHandler = (meta: StoreMeta) => IncomingStore;

export interface QrAssociationOptions extends Omit<AssociateRq, 'maxPduLength'> {
  readonly host: string;
  readonly port: number;
  readonly maxPduLength: number;
  readonly connectTimeoutMs: number;
  /** Deadline for A-ASSOCIATE-AC and A-RELEASE-RP. */
  readonly responseTimeoutMs: number;
  /** Hard stop: abort the association at once. */
  readonly signal: AbortSignal;
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
const MAX_SEND_PDU = 1024 * 1024;
const MAX_UNREAD = 10_000;
const ABORT_GRACE_MS = 2000;

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

interface Waiter {
  readonly kind: 'open' | 'next' | 'release';
  readonly what: string;
  readonly ms: number;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: QrError) => void;
  timer: NodeJS.Timeout | undefined;
}

/** Opens an association; resolves once accepted, rejects with a QrError otherwise. */
export function openQrAssociation(o: QrAssociationOptions): Promise<QrAssociation> {
  const socket: Socket = connect({ host: o.host, port: o.port });
  socket.setNoDelay(true);
  let state: 'connecting' | 'requesting' | 'open' | 'releasing' | 'done' = 'connecting';
  let failure: QrError | null = null;
  let waiter: Waiter | null = null;
  const responses: ResponseMessage[] = [];
  let commandParts: Buffer[] = [];
  let commandBytes = 0;
  let inbound: Inbound | null = null;
  let storing: Promise<void> | null = null;
  let accepted = new Map<number, string>();
  let results: ContextResult[] = [];
  let maxFragment = 0;
  let socketError: string | null = null;
  const received = { stored: 0, refused: 0 };
  const currentFailure = (): QrError | null => failure;

  function fail(err: QrError): void {
    if (failure) {
      return;
    }
    failure = err;
    const was = state;
    state = 'done';
    o.signal.removeEventListener('abort', onSignal);
    const w = waiter;
    waiter = null;
    if (w) {
      clearTimeout(w.timer);
      w.reject(err);
    }
    const pending = inbound;
    inbound = null;
    if (pending?.kind === 'store') {
      void pending.target.abort().catch(() => undefined);
    }
    // Failures of our making are told to the peer; the peer's own (reject, abort, close) are not.
    const ours = err.kind !== 'connect' && err.kind !== 'rejected' && err.kind !== 'aborted' && err.kind !== 'closed';
    if (was !== 'connecting' && was !== 'done' && ours) {
      socket.end(encodeAbort(err.kind === 'protocol' ? 2 : 0, err.kind === 'protocol' ? 2 : 0));
      setTimeout(() => socket.destroy(), ABORT_GRACE_MS).unref();
    } else {
      socket.destroy();
    }
  }

  function arm(): void {
    const w = waiter;
    if (!w) {
      return;
    }
    clearTimeout(w.timer);
    // While we store a sub-operation the peer waits for our answer: no deadline runs.
    if (storing && w.kind === 'next') {
      return;
    }
    w.timer = setTimeout(() => {
      fail(new QrError('timeout', `no ${w.what} within ${String(w.ms)} ms`));
    }, w.ms);
  }

  function wait<T>(kind: Waiter['kind'], what: string, ms: number, armNow = true): Promise<T> {
    if (failure) {
      return Promise.reject(failure);
    }
    return new Promise<T>((resolve, reject) => {
      waiter = { kind, what, ms, resolve: resolve as (v: unknown) => void, reject, timer: undefined };
      if (armNow) {
        arm();
      }
    });
  }

  function settle(kind: Waiter['kind'], value: unknown): boolean {
    const w = waiter;
    if (w?.kind !== kind) {
      return false;
    }
    waiter = null;
    clearTimeout(w.timer);
    w.resolve(value);
    return true;
  }

  function write(contextId: number, command: boolean, data: Buffer): void {
    socket.cork();
    let off = 0;
    do {
      const n = Math.min(maxFragment, data.length - off);
      socket.write(pdvHeader(contextId, command, off + n === data.length, n));
      socket.write(data.subarray(off, off + n));
      off += n;
    } while (off < data.length);
    socket.uncork();
  }

  function deliver(m: ResponseMessage): void {
    if (settle('next', m)) {
      return;
    }
    if (responses.length >= MAX_UNREAD) {
      throw new PduError('too many unread responses');
    }
    responses.push(m);
  }

  function beginStore(cmd: DimseCommand, contextId: number): Inbound {
    const ts = accepted.get(contextId) ?? '';
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
      transferSyntaxUid: ts,
      callingAe: o.calledAe,
      calledAe: o.callingAe,
      peerIp: socket.remoteAddress ?? '',
    });
    return { kind: 'store', contextId, command: cmd, target };
  }

  function finishStore(s: Extract<Inbound, { kind: 'store' }>): void {
    const messageId = s.command.messageId ?? 0;
    const answer = (r: { status: number; comment?: string }): void => {
      if (failure) {
        return;
      }
      if (r.status === 0) {
        received.stored++;
      } else {
        received.refused++;
      }
      write(
        s.contextId,
        true,
        encodeStoreRsp({
          messageId,
          sopClassUid: s.command.affectedSopClassUid ?? '',
          sopInstanceUid: s.command.affectedSopInstanceUid ?? '',
          status: r.status,
          ...(r.comment === undefined ? {} : { errorComment: r.comment }),
        }),
      );
    };
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
        arm();
      });
  }

  function onPdv(pdv: Pdv): void {
    if (!accepted.has(pdv.contextId)) {
      throw new PduError(`a PDV on presentation context ${String(pdv.contextId)}, which was not accepted`);
    }
    const cur = inbound;
    if (cur) {
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
        if (!pdv.last) {
          return;
        }
        inbound = null;
        deliver({ contextId: cur.contextId, command: cur.command, dataset: Buffer.concat(cur.parts) });
        return;
      }
      if (!cur.target.write(pdv.data)) {
        // Disk slower than the network: stop reading until the file catches up.
        socket.pause();
        cur.target.drained().then(
          () => {
            socket.resume();
          },
          (err: unknown) => {
            fail(
              new QrError(
                'interrupted',
                `storing a received instance failed: ${err instanceof Error ? err.message : String(err)}`,
              ),
            );
          },
        );
      }
      if (!pdv.last) {
        return;
      }
      inbound = null;
      finishStore(cur);
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

  /** The association ended as wanted; a peer that keeps its side of the connection open is cut off after a grace. */
  function released(): void {
    state = 'done';
    o.signal.removeEventListener('abort', onSignal);
    socket.end();
    setTimeout(() => socket.destroy(), ABORT_GRACE_MS).unref();
    settle('release', null);
  }

  function onPdu(type: number, body: Buffer): void {
    if (failure) {
      return;
    }
    switch (type) {
      case PduType.AssociateAc: {
        if (state !== 'requesting') {
          throw new PduError('unexpected A-ASSOCIATE-AC');
        }
        const ac = decodeAssociateAc(body);
        const peerMax = ac.maxPduLength === 0 ? MAX_SEND_PDU : Math.min(ac.maxPduLength, MAX_SEND_PDU);
        if (peerMax <= 8) {
          throw new PduError(`maximum PDU length ${String(ac.maxPduLength)} is too small`);
        }
        maxFragment = (peerMax - 6) & ~1;
        results = [...ac.contexts];
        accepted = new Map(
          ac.contexts
            .filter((c) => c.result === 0 && c.transferSyntax !== null)
            .map((c) => [c.id, c.transferSyntax ?? '']),
        );
        state = 'open';
        settle('open', null);
        return;
      }
      case PduType.AssociateRj: {
        if (state !== 'requesting') {
          throw new PduError('unexpected A-ASSOCIATE-RJ');
        }
        const rj = decodeAssociateRj(body);
        fail(new QrError('rejected', `association ${describeReject(rj)}`, { reject: rj }));
        return;
      }
      case PduType.PData:
        if (state !== 'open' && state !== 'releasing') {
          throw new PduError('P-DATA-TF outside an association');
        }
        for (const pdv of decodePData(body)) {
          onPdv(pdv);
        }
        return;
      case PduType.ReleaseRp:
        if (state !== 'releasing') {
          throw new PduError('unexpected A-RELEASE-RP');
        }
        released();
        return;
      case PduType.ReleaseRq:
        socket.write(encodeReleaseRp());
        if (state === 'releasing') {
          released();
          return;
        }
        fail(new QrError('closed', 'the peer released the association before the operation ended'));
        return;
      case PduType.Abort:
        fail(new QrError('aborted', `association ${describeAbort(decodeAbort(body))}`));
        return;
      default:
        throw new PduError(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }

  const closed = new Promise<void>((resolve) => {
    socket.once('close', () => {
      resolve();
    });
  });
  const read = createPduReader(o.maxPduLength, onPdu);
  socket.on('data', (chunk: Buffer) => {
    if (failure) {
      return;
    }
    try {
      read(chunk);
      // Any PDU is a sign of life: the idle deadline of a pending `next` starts again.
      if (waiter?.kind === 'next') {
        arm();
      }
    } catch (err) {
      fail(new QrError('protocol', `protocol error: ${err instanceof Error ? err.message : String(err)}`));
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    socketError = err.code ?? err.message;
  });
  socket.on('close', () => {
    if (state === 'connecting') {
      fail(
        new QrError(
          'connect',
          socketError === 'ECONNREFUSED' ? 'connection refused' : (socketError ?? 'connection closed'),
        ),
      );
    } else {
      fail(new QrError('closed', `connection closed${socketError ? ` (${socketError})` : ''}`));
    }
  });
  function onSignal(): void {
    const timedOut = o.signal.reason instanceof Error && o.signal.reason.name === 'TimeoutError';
    fail(new QrError('interrupted', timedOut ? 'time limit reached' : 'cancelled'));
  }
  o.signal.addEventListener('abort', onSignal, { once: true });
  if (o.signal.aborted) {
    onSignal();
  }
  const connectTimer = setTimeout(() => {
    if (state === 'connecting') {
      fail(new QrError('connect', `no connection within ${String(o.connectTimeoutMs)} ms`));
    }
  }, o.connectTimeoutMs);
  socket.once('connect', () => {
    clearTimeout(connectTimer);
    if (failure) {
      return;
    }
    state = 'requesting';
    socket.write(encodeAssociateRq(o));
    arm();
  });
  socket.once('close', () => {
    clearTimeout(connectTimer);
  });

  const association: QrAssociation = {
    get accepted() {
      return accepted;
    },
    get results() {
      return results;
    },
    received,
    send(contextId, command, dataset) {
      if (failure) {
        throw failure;
      }
      write(contextId, true, command);
      if (dataset) {
        write(contextId, false, dataset);
      }
    },
    next(idleMs) {
      const m = responses.shift();
      return m ? Promise.resolve(m) : wait<ResponseMessage>('next', 'response', idleMs);
    },
    async release() {
      if (failure) {
        throw failure;
      }
      // An instance still being stored is answered first: releasing under it would lose its response.
      if (storing) {
        await storing;
      }
      // The association may have failed while we waited.
      const late = currentFailure();
      if (late) {
        throw late;
      }
      state = 'releasing';
      socket.write(encodeReleaseRq());
      await wait<null>('release', 'A-RELEASE-RP', o.responseTimeoutMs);
    },
    abort(err) {
      fail(err ?? new QrError('interrupted', 'the association was aborted'));
    },
    closed,
  };
  return wait<null>('open', 'A-ASSOCIATE-AC', o.responseTimeoutMs, false).then(() => association);
}
