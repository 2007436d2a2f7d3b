//! One DICOM connection, acceptor side (PS3.8 §9.2): negotiation, P-DATA to the DIMSE layer, release, abort, deadlines.
// Every way a connection can end goes through here and is answered as PS3.8 says: a request we
// cannot take gets A-ASSOCIATE-RJ, a protocol violation gets A-ABORT, a peer's A-ABORT closes
// the connection at once, and a peer that stalls, trickles or never asks is dropped by the
// watchdog. Errors from the socket, the timers and our own handlers are all caught here. The
// connection's state lives here alone: accept.ts (the A-ASSOCIATE-RQ answer) and closing.ts (our
// last PDU) read and change it only through the callbacks they are given.
import type { Socket } from 'node:net';
import { PduError, PduType, encodeReleaseRp } from '../../dicom/pdu.ts';
import { createPduFramer } from '../../dicom/pdu-framer.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import { answerAssociateRq, type AcceptDeps, type AcceptingConnection, type Opened, type Outcome } from './accept.ts';
import { createClosing, type AeNames } from './closing.ts';
import { CommandSetError } from './commands.ts';
import type { LogThrottle } from './log-throttle.ts';
import { pduRefusal, type ConnectionState } from './protocol-rules.ts';
import { createWatchdog, type Expiry, type Phase } from './watchdog.ts';

/** The rate check's window (dimse.minReceiveBytesPer10s). */
export const RATE_WINDOW_MS = 10_000;
/** The most we wait, after our A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT, for the peer to close. */
const MAX_CLOSE_GRACE_MS = 2000;

/** What the A-ASSOCIATE-RQ answer needs, and the warning throttle shared by the listener's connections. */
export interface ConnectionDeps extends AcceptDeps {
  readonly throttle: LogThrottle;
}

export interface Connection {
  readonly peerIp: string;
  /** Resolves once no instance of this connection is being stored. */
  settled(): Promise<void>;
  /** Ends the connection now (A-ABORT first when associated), logging why. */
  drop(reason: string, code: ErrorCode): void;
  /** Resolves when the connection has closed and its association row is closed. */
  readonly closed: Promise<void>;
}

export function openConnection(socket: Socket, peerIp: string, d: ConnectionDeps): Connection {
  const { cfg, log } = d;
  let state: ConnectionState = 'negotiating';
  let assoc: Opened | null = null;
  // Counted as an association in the peer limits (from its A-ASSOCIATE-RQ until refused or closed).
  let counted = false;
  // The A-ASSOCIATE-RQ being answered (admission, the association row): settles, never rejects.
  let accepting: Promise<void> = Promise.resolve();
  let names: AeNames = { callingAe: '', calledAe: '' };
  let outcome: Outcome = 'dropped';
  let resolveClosed: () => void = () => undefined;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  const watchdog = createWatchdog({
    clock: d.clock,
    artimMs: cfg.artimTimeoutMs,
    idleMs: cfg.idleTimeoutMs,
    minBytesPerWindow: cfg.minReceiveBytesPer10s,
    windowMs: RATE_WINDOW_MS,
    closeGraceMs: Math.min(cfg.artimTimeoutMs, MAX_CLOSE_GRACE_MS),
    onExpire: (e, bytes) => {
      try {
        expired(e, bytes);
      } catch (err) {
        log.error({ err, peerIp }, 'Ending a timed-out DICOM connection failed.');
        socket.destroy();
      }
    },
  });

  const closing = createClosing({
    socket,
    peerIp,
    log,
    events: d.events,
    throttle: d.throttle,
    names: () => names,
    isClosing: () => state === 'closing',
    enterClosing: () => {
      framer.close();
      state = 'closing';
      watchdog.phase('closing');
    },
    abandon: () => {
      void assoc?.messages.abandon();
    },
  });
  const { warn, closeWith, abortWith } = closing;

  /** What answering its A-ASSOCIATE-RQ (accept.ts) reads and changes of this connection. */
  const acceptor: AcceptingConnection = {
    peerIp,
    socket,
    closing,
    state: () => state,
    named: (n) => {
      names = n;
    },
    counted: (yes) => {
      counted = yes;
    },
    accepting: () => {
      state = 'accepting';
    },
    opened: (a) => {
      assoc = a;
      state = 'open';
    },
    outcome: () => outcome,
    updatePhase,
  };

  function expired(e: Expiry, bytes: number): void {
    switch (e) {
      case 'artim':
        warn(
          ErrorCode.PEER_TIMEOUT,
          { reason: `no association within ${String(cfg.artimTimeoutMs)} ms (ARTIM)` },
          'Connection dropped.',
        );
        socket.destroy();
        return;
      case 'idle':
        abortWith(`no traffic for ${String(cfg.idleTimeoutMs)} ms`, ErrorCode.PEER_TIMEOUT, 2, 0);
        return;
      case 'slow':
        abortWith(
          `${String(bytes)} bytes in ${String(RATE_WINDOW_MS / 1000)} s while a PDU or message was partly received; the minimum is ${String(cfg.minReceiveBytesPer10s)}`,
          ErrorCode.PEER_TOO_SLOW,
          2,
          0,
        );
        return;
      case 'closing':
        socket.destroy();
        return;
    }
  }

  /** Which deadline runs now (watchdog.ts). */
  function updatePhase(): void {
    let p: Phase;
    if (state === 'closing') {
      p = 'closing';
    } else if (state === 'negotiating' || state === 'accepting') {
      p = 'negotiating';
    } else if (state === 'releasing' || assoc?.messages.ours) {
      p = 'ours';
    } else if (framer.partial || assoc?.messages.receiving) {
      p = 'receiving';
    } else {
      p = 'idle';
    }
    watchdog.phase(p);
  }

  function onPdu(type: number, body: Buffer): void {
    switch (type) {
      case PduType.AssociateRq:
        accepting = answerAssociateRq(body, d, acceptor) ?? accepting;
        return;
      case PduType.PData:
        assoc?.messages.onPData(body);
        return;
      case PduType.ReleaseRq:
        onReleaseRq();
        return;
      default:
        // A-ABORT (the only other type pduRefusal lets through): end at once (PS3.8 AA-3).
        outcome = 'aborted';
        framer.close();
        socket.destroy();
    }
  }

  function onReleaseRq(): void {
    const a = assoc;
    if (!a) {
      return;
    }
    state = 'releasing';
    // Answer once the instance being stored (if any) is answered, so nothing is cut short.
    void a.messages
      .abandon()
      .then(() => a.messages.settled())
      .then(() => {
        outcome = 'released';
        closeWith(encodeReleaseRp());
      })
      .catch((err: unknown) => {
        log.error({ err, peerIp }, 'Answering an A-RELEASE-RQ failed.');
      });
  }

  const framer = createPduFramer(
    (type, length) => pduRefusal(state, type, length, cfg.maxPduBytes),
    onPdu,
    (type, parts, length) => type === PduType.PData && assoc !== null && assoc.messages.onPDataParts(parts, length),
  );
  socket.setNoDelay(true); // Nagle + delayed ACK stalls each response by 40–90 ms (libs.md §1.7)
  socket.on('data', (chunk: Buffer) => {
    watchdog.received(chunk.length);
    try {
      framer.push(chunk);
    } catch (err) {
      if (err instanceof PduError) {
        abortWith(
          `protocol violation: ${err.message}`,
          err instanceof CommandSetError ? ErrorCode.COMMAND_INVALID : ErrorCode.PDU_INVALID,
          2,
          err.abortReason,
        );
      } else {
        log.error({ err, peerIp }, 'Handling DICOM input failed.');
        abortWith(`internal error: ${describeError(err)}`, ErrorCode.PDU_INVALID, 2, 0);
      }
    }
    updatePhase();
  });
  socket.on('error', (err) => {
    log.debug({ err, peerIp }, 'DICOM connection error.');
  });
  socket.once('close', () => {
    void onClose()
      .catch((err: unknown) => {
        log.error({ err, peerIp }, 'Closing a DICOM connection failed.');
      })
      .finally(resolveClosed);
  });
  watchdog.phase('negotiating');

  async function onClose(): Promise<void> {
    watchdog.stop();
    framer.close();
    try {
      // An A-ASSOCIATE-RQ still being answered sees the connection ended and lets its row go.
      await accepting;
      const a = assoc;
      if (a) {
        await a.messages.abandon();
      }
      d.limits.release(peerIp, counted);
      if (!a) {
        return;
      }
      const durationMs = d.clock.now() - a.at;
      const stats = { instances: a.messages.instances, bytes: a.messages.bytes, durationMs, outcome };
      log.info({ associationUid: a.uid, peerIp, ...names, ...stats }, 'Association closed.');
      d.events.emit('association.closed', { source: 'dimse', associationUid: a.uid, ...stats });
      d.intake.closeAssociation(a.uid, outcome);
    } catch (err) {
      log.error({ err, peerIp }, 'Closing a DICOM connection failed.');
    }
  }

  return {
    peerIp,
    settled: () => assoc?.messages.settled() ?? Promise.resolve(),
    drop(reason, code) {
      if (socket.destroyed) {
        return;
      }
      if (assoc && state !== 'closing') {
        abortWith(reason, code, 0, 0);
      } else {
        warn(code, { reason }, 'Connection dropped.');
        socket.destroy();
      }
    },
    closed,
  };
}
