//! The requestor's side of one association, shared by every role: connect, negotiate, PDVs out and in, release, abort.
// A small state machine over a net.Socket (PS3.8 §9.2 state table, requestor side only). Every
// wait has a deadline, an AbortSignal aborts, and the first failure (peer A-ABORT or
// A-ASSOCIATE-RJ, socket closed, timeout, protocol error) is kept and rethrown by every later call:
// callers never hang. What the P-DATA-TFs carry is the role's (store-scu.ts: C-STORE and C-ECHO
// with bare responses; qr-scu.ts: Q/R responses with identifiers, and C-GET's C-STORE
// sub-operations), handed over PDV by PDV.
import { connect, type Socket } from 'node:net';
import {
  PduError,
  PduType,
  decodeAbort,
  decodeAssociateAc,
  decodeAssociateRj,
  encodeAbort,
  encodeAssociateRq,
  encodeReleaseRp,
  encodeReleaseRq,
  type ContextResult,
} from '../pdu.ts';
import { decodePData, pdvHeader } from '../pdata.ts';
import { describeAbort, describeReject } from '../pdu-reasons.ts';
import { createPduReader } from '../pdu-framer.ts';
import { abortsPeer, socketErrorText } from './failure.ts';
import type { Requestor, RequestorOptions, Role } from './types.ts';
import { createWaits } from './waits.ts';

export type { Requestor, RequestorOptions, Role } from './types.ts';

// PDUs beyond 1 MiB save nothing measurable and would only make our read chunks larger.
const MAX_SEND_PDU = 1024 * 1024;
// After our A-ABORT or release, how long the peer may take before the socket is destroyed.
const ABORT_GRACE_MS = 2000;

/** Opens an association for `role`. Error messages do not name the peer: callers prefix `calledAe@host:port`. */
export function openRequestor<E extends Error & { readonly kind: string }>(
  o: RequestorOptions,
  role: Role<E>,
): Requestor<E> {
  const socket: Socket = connect({ host: o.host, port: o.port });
  // Each command and the first data PDU would otherwise wait out Nagle + delayed ACK (libs.md §1.7).
  socket.setNoDelay(true);
  let state: 'connecting' | 'requesting' | 'open' | 'releasing' | 'done' = 'connecting';
  let failure: E | null = null;
  const waits = createWaits<E>(
    () => failure,
    (message) => {
      fail(role.error('timeout', message));
    },
  );
  let drainWaiter: { resolve: () => void; reject: (e: E) => void } | null = null;
  let accepted = new Map<number, string>();
  let results: ContextResult[] = [];
  let maxFragment = 0;
  let socketError: string | null = null;

  function fail(err: E): void {
    if (failure) {
      return;
    }
    failure = err;
    const was = state;
    state = 'done';
    o.signal.removeEventListener('abort', onSignal);
    waits.reject(err);
    drainWaiter?.reject(err);
    drainWaiter = null;
    role.onFail?.(err);
    if (was !== 'connecting' && was !== 'done' && abortsPeer(err.kind)) {
      // Tell the peer; whole PDUs already queued go first, so the A-ABORT arrives well-formed.
      const reason = err.kind === 'protocol' ? 2 : 0;
      socket.end(encodeAbort(reason, reason));
      setTimeout(() => socket.destroy(), ABORT_GRACE_MS).unref();
    } else {
      socket.destroy();
    }
  }

  /** The association ended as wanted; a peer that keeps its side of the connection open is cut off after a grace. */
  function released(): void {
    state = 'done';
    o.signal.removeEventListener('abort', onSignal);
    socket.end();
    setTimeout(() => socket.destroy(), ABORT_GRACE_MS).unref();
    waits.settle('release', null);
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
        waits.settle('open', null);
        return;
      }
      case PduType.AssociateRj: {
        if (state !== 'requesting') {
          throw new PduError('unexpected A-ASSOCIATE-RJ');
        }
        const rj = decodeAssociateRj(body);
        fail(role.error('rejected', `association ${describeReject(rj)}`, rj));
        return;
      }
      case PduType.PData:
        if (state !== 'open' && state !== 'releasing') {
          throw new PduError('P-DATA-TF outside an association');
        }
        for (const pdv of decodePData(body)) {
          role.onPdv(pdv);
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
        fail(role.error('closed', 'the peer released the association before the operation ended'));
        return;
      case PduType.Abort:
        fail(role.error('aborted', `association ${describeAbort(decodeAbort(body))}`));
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
      // Any PDU is a sign of life: the deadline of an idle wait starts again.
      waits.activity();
    } catch (err) {
      fail(role.error('protocol', `protocol error: ${err instanceof Error ? err.message : String(err)}`));
    }
  });
  socket.on('error', (err: NodeJS.ErrnoException) => {
    socketError = socketErrorText(err);
  });
  socket.on('close', () => {
    if (state === 'connecting') {
      fail(role.error('connect', socketError ?? 'connection closed'));
    } else {
      fail(role.error('closed', `connection closed${socketError ? ` (${socketError})` : ''}`));
    }
  });
  socket.on('drain', () => {
    drainWaiter?.resolve();
    drainWaiter = null;
  });
  function onSignal(): void {
    const timedOut = o.signal.reason instanceof Error && o.signal.reason.name === 'TimeoutError';
    fail(role.error('interrupted', timedOut ? 'cancelled: time limit reached' : 'cancelled'));
  }
  o.signal.addEventListener('abort', onSignal, { once: true });
  if (o.signal.aborted) {
    onSignal();
  }
  const connectTimer = setTimeout(() => {
    if (state === 'connecting') {
      fail(role.error('connect', `no connection within ${String(o.connectTimeoutMs)} ms`));
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
    waits.arm();
  });
  socket.once('close', () => {
    clearTimeout(connectTimer);
  });

  return {
    opened: waits.wait<null>('open', 'A-ASSOCIATE-AC', o.responseTimeoutMs, { armLater: true }).then(() => undefined),
    get accepted() {
      return accepted;
    },
    get results() {
      return results;
    },
    get maxFragment() {
      return maxFragment;
    },
    get peerIp() {
      return socket.remoteAddress ?? '';
    },
    closed,
    failure: () => failure,
    write(contextId, command, data, last, onWritten) {
      if (failure) {
        throw failure;
      }
      let ok: boolean;
      socket.cork();
      let off = 0;
      do {
        const n = Math.min(maxFragment, data.length - off);
        const final = off + n === data.length;
        socket.write(pdvHeader(contextId, command, last && final, n));
        ok = socket.write(n === data.length ? data : data.subarray(off, off + n), final ? onWritten : undefined);
        off += n;
      } while (off < data.length);
      // uncork hands every header and fragment to one writev: no copies, one system call.
      socket.uncork();
      return ok;
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
          fail(role.error('timeout', `the peer read no data for ${String(o.responseTimeoutMs)} ms`));
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
    nextMessage: (what, ms, idle) => waits.wait('message', what, ms, { idle }),
    deliver: (value) => waits.settle('message', value),
    holdIdle: (on) => {
      waits.holdIdle(on);
    },
    pause() {
      socket.pause();
    },
    resume() {
      socket.resume();
    },
    release() {
      if (failure) {
        return Promise.reject(failure);
      }
      state = 'releasing';
      socket.write(encodeReleaseRq());
      return waits.wait<null>('release', 'A-RELEASE-RP', o.responseTimeoutMs).then(() => undefined);
    },
    fail,
  };
}
