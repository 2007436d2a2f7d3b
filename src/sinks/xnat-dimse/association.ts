//! One association as a requestor: TCP connect, negotiation, P-DATA out with back-pressure, responses in, release or abort.
// A small state machine over a net.Socket (PS3.8 §9.2 state table, requestor side only). Every
// wait has a deadline, an AbortSignal aborts, and the first failure (peer A-ABORT, socket closed,
// timeout, protocol error) is kept and rethrown by every later call: callers never hang.
import { connect, type Socket } from 'node:net';
import { decodeResponse, type DimseResponse } from './command.ts';
import { DimseError, socketErrorText } from './failure.ts';
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
} from '../../dicom/pdu.ts';
import { createPduReader } from '../../dicom/pdu-framer.ts';

export interface AssociationOptions extends Omit<AssociateRq, 'maxPduLength'> {
  readonly host: string;
  readonly port: number;
  /** Our receive limit, advertised to the peer. */
  readonly maxPduLength: number;
  readonly connectTimeoutMs: number;
  /** Deadline for A-ASSOCIATE-AC, each response, A-RELEASE-RP, and for the socket to drain. */
  readonly responseTimeoutMs: number;
  readonly signal: AbortSignal;
}

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

// PDUs beyond 1 MiB save nothing measurable and would only make our read chunks larger.
const MAX_SEND_PDU = 1024 * 1024;
// Responses nobody has asked for yet; we send one request at a time, so a few at most.
const MAX_UNREAD_RESPONSES = 4;
// After our A-ABORT, how long the socket may take to flush it before it is destroyed.
const ABORT_GRACE_MS = 2000;

interface Waiter {
  readonly kind: 'open' | 'response' | 'release';
  readonly what: string;
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: DimseError) => void;
  timer: NodeJS.Timeout | undefined;
}

/**
 * Opens an association; resolves once the peer accepted it, rejects with a DimseError otherwise.
 * Error messages do not name the peer: callers prefix `calledAe@host:port`.
 */
export function associate(o: AssociationOptions): Promise<Association> {
  const socket: Socket = connect({ host: o.host, port: o.port });
  // Each command and the first data PDU would otherwise wait out Nagle + delayed ACK (libs.md §1.7).
  socket.setNoDelay(true);
  let state: 'connecting' | 'requesting' | 'open' | 'releasing' | 'done' = 'connecting';
  let failure: DimseError | null = null;
  let waiter: Waiter | null = null;
  let drainWaiter: { resolve: () => void; reject: (e: DimseError) => void } | null = null;
  const responses: DimseResponse[] = [];
  let commandParts: Buffer[] = [];
  let accepted = new Map<number, string>();
  let results: ContextResult[] = [];
  let maxFragment = 0;
  let socketError: string | null = null;

  function fail(err: DimseError): void {
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
    drainWaiter?.reject(err);
    drainWaiter = null;
    if (was !== 'connecting' && (err.kind === 'timeout' || err.kind === 'protocol' || err.kind === 'interrupted')) {
      // Tell the peer; whole PDUs already queued go first, so the A-ABORT arrives well-formed.
      socket.end(encodeAbort(err.kind === 'protocol' ? 2 : 0, err.kind === 'protocol' ? 2 : 0));
      setTimeout(() => socket.destroy(), ABORT_GRACE_MS).unref();
    } else {
      socket.destroy();
    }
  }

  /** Waits for `kind`; the deadline starts now, or (`armLater`) when `arm` is called. */
  function wait<T>(kind: Waiter['kind'], what: string, armLater = false): Promise<T> {
    if (failure) {
      return Promise.reject(failure);
    }
    return new Promise<T>((resolve, reject) => {
      waiter = { kind, what, resolve: resolve as (v: unknown) => void, reject, timer: undefined };
      if (!armLater) {
        arm();
      }
    });
  }

  function arm(): void {
    const w = waiter;
    if (!w) {
      return;
    }
    clearTimeout(w.timer);
    w.timer = setTimeout(() => {
      fail(new DimseError('timeout', `no ${w.what} within ${String(o.responseTimeoutMs)} ms`));
    }, o.responseTimeoutMs);
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

  const protocol = (message: string): void => {
    fail(new DimseError('protocol', `protocol error: ${message}`));
  };

  function released(): void {
    state = 'done';
    o.signal.removeEventListener('abort', onSignal);
    socket.end();
    settle('release', null);
  }

  function onPdu(type: number, body: Buffer): void {
    // A chunk may hold PDUs after the one that ended the association: they are moot.
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
        fail(new DimseError('rejected', `association ${describeReject(rj)}`, rj));
        return;
      }
      case PduType.PData:
        if (state !== 'open' && state !== 'releasing') {
          throw new PduError('P-DATA-TF outside an association');
        }
        for (const pdv of decodePData(body)) {
          if (!pdv.command) {
            throw new PduError('a dataset where only response commands are expected');
          }
          commandParts.push(pdv.data);
          if (!pdv.last) {
            continue;
          }
          const rsp = decodeResponse(
            commandParts.length === 1 ? (commandParts[0] ?? Buffer.alloc(0)) : Buffer.concat(commandParts),
          );
          commandParts = [];
          if (rsp.hasDataset) {
            throw new PduError('a response announcing a dataset');
          }
          if (settle('response', rsp)) {
            continue;
          }
          if (responses.length >= MAX_UNREAD_RESPONSES) {
            throw new PduError('responses to requests never sent');
          }
          responses.push(rsp);
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
        // Both sides releasing at once (PS3.8 §7.2.2 collision): the association ended as wanted.
        if (state === 'releasing') {
          released();
          return;
        }
        // Otherwise the acceptor quit while our work is unfinished: that counts as a close.
        fail(new DimseError('closed', 'the receiver released the association before all was sent'));
        return;
      case PduType.Abort:
        fail(new DimseError('aborted', `association ${describeAbort(decodeAbort(body))}`));
        return;
      default:
        throw new PduError(`unknown PDU type 0x${type.toString(16).padStart(2, '0')}`);
    }
  }

  const read = createPduReader(o.maxPduLength, onPdu);
  socket.on('data', (chunk: Buffer) => {
    if (failure) {
      return;
    }
    try {
      read(chunk);
    } catch (err) {
      protocol(err instanceof Error ? err.message : String(err));
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    socketError = socketErrorText(err);
  });
  socket.on('close', () => {
    if (state === 'connecting') {
      fail(new DimseError('connect', socketError ?? 'connection closed'));
    } else {
      fail(new DimseError('closed', `connection closed${socketError ? ` (${socketError})` : ''}`));
    }
  });
  socket.on('drain', () => {
    drainWaiter?.resolve();
    drainWaiter = null;
  });
  function onSignal(): void {
    const timedOut = o.signal.reason instanceof Error && o.signal.reason.name === 'TimeoutError';
    fail(new DimseError('interrupted', timedOut ? 'cancelled: time limit reached' : 'cancelled'));
  }
  o.signal.addEventListener('abort', onSignal, { once: true });
  if (o.signal.aborted) {
    onSignal();
  }

  const connectTimer = setTimeout(() => {
    if (state === 'connecting') {
      fail(new DimseError('connect', `no connection within ${String(o.connectTimeoutMs)} ms`));
    }
  }, o.connectTimeoutMs);
  socket.once('connect', () => {
    clearTimeout(connectTimer);
    if (failure) {
      return;
    }
    state = 'requesting';
    socket.write(encodeAssociateRq(o));
    // The A-ASSOCIATE-AC deadline runs from the request, not from the start of the connect.
    arm();
  });
  socket.once('close', () => {
    clearTimeout(connectTimer);
  });

  const association: Association = {
    get accepted() {
      return accepted;
    },
    get results() {
      return results;
    },
    get maxFragment() {
      return maxFragment;
    },
    send(contextId, command, data, last) {
      if (failure) {
        throw failure;
      }
      let done: () => void = () => undefined;
      const written = new Promise<void>((r) => {
        done = r;
      });
      let ok: boolean;
      socket.cork();
      let off = 0;
      do {
        const n = Math.min(maxFragment, data.length - off);
        const final = off + n === data.length;
        socket.write(pdvHeader(contextId, command, last && final, n));
        ok = socket.write(
          n === data.length ? data : data.subarray(off, off + n),
          final
            ? () => {
                done();
              }
            : undefined,
        );
        off += n;
      } while (off < data.length);
      // uncork hands every header and fragment to one writev: no copies, one system call.
      socket.uncork();
      return { written, needDrain: !ok };
    },
    drain() {
      if (failure) {
        return Promise.reject(failure);
      }
      if (!socket.writableNeedDrain) {
        return Promise.resolve();
      }
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          fail(new DimseError('timeout', `the receiver read no data for ${String(o.responseTimeoutMs)} ms`));
        }, o.responseTimeoutMs);
        drainWaiter = {
          resolve: () => {
            clearTimeout(timer);
            resolve();
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        };
      });
    },
    response() {
      const next = responses.shift();
      return next ? Promise.resolve(next) : wait<DimseResponse>('response', 'response');
    },
    release() {
      if (failure) {
        return Promise.reject(failure);
      }
      state = 'releasing';
      socket.write(encodeReleaseRq());
      return wait<undefined>('release', 'A-RELEASE-RP');
    },
    abort(err) {
      fail(err ?? new DimseError('interrupted', 'the association was aborted'));
    },
  };
  return wait<null>('open', 'A-ASSOCIATE-AC', true).then(() => association);
}
