//! One DICOM connection, acceptor side (PS3.8 §9.2): negotiation, P-DATA to the DIMSE layer, release, abort, deadlines.
// Every way a connection can end goes through here and is answered as PS3.8 says: a request we
// cannot take gets A-ASSOCIATE-RJ, a protocol violation gets A-ABORT, a peer's A-ABORT closes
// the connection at once, and a peer that stalls, trickles or never asks is dropped by the
// watchdog. Errors from the socket, the timers and our own handlers are all caught here.
import type { Socket } from 'node:net';
import {
  decodeAssociateRq,
  encodeAssociateAc,
  encodeAssociateRj,
  type AssociateRequest,
} from '../../dicom/associate.ts';
import { PduError, PduType, encodeAbort, encodeReleaseRp } from '../../dicom/pdu.ts';
import { createPduFramer } from '../../dicom/pdu-framer.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../../dicom/part10.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { Clock, DaemonEvents, Logger } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import type { DimseConfig } from './config.ts';
import type { LogThrottle } from './log-throttle.ts';
import { CommandSetError, createMessageHandler, type MessageHandler } from './messages.ts';
import { negotiateContexts } from './negotiate.ts';
import type { PeerLimits } from './peer-limits.ts';
import { pduRefusal, requestProblem, type ConnectionState } from './protocol-rules.ts';
import type { AssociationRequest, Rejection } from './policy.ts';
import { createWatchdog, type Expiry, type Phase } from './watchdog.ts';

/** The rate check's window (dimse.minReceiveBytesPer10s). */
export const RATE_WINDOW_MS = 10_000;
/** The most we wait, after our A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT, for the peer to close. */
const MAX_CLOSE_GRACE_MS = 2000;

export interface ConnectionDeps {
  readonly cfg: DimseConfig;
  readonly intake: Intake;
  readonly log: Logger;
  readonly events: DaemonEvents;
  readonly clock: Clock;
  readonly policy: (rq: AssociationRequest) => Promise<Rejection | null>;
  readonly limits: PeerLimits;
  readonly throttle: LogThrottle;
  readonly isStopping: () => boolean;
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

interface Opened {
  readonly uid: string;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly at: number;
  readonly messages: MessageHandler;
}

export function openConnection(socket: Socket, peerIp: string, d: ConnectionDeps): Connection {
  const { cfg, log } = d;
  let state: ConnectionState = 'negotiating';
  let assoc: Opened | null = null;
  // Counted as an association in the peer limits (from its A-ASSOCIATE-RQ until refused or closed).
  let counted = false;
  // The A-ASSOCIATE-RQ being answered (admission, the association row): settles, never rejects.
  let accepting: Promise<void> = Promise.resolve();
  let names = { callingAe: '', calledAe: '' };
  let outcome: 'released' | 'aborted' | 'dropped' = 'dropped';
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

  /** A warning, at most one per peer, code and 10 s; the rest at debug (log-throttle.ts). */
  function warn(code: ErrorCode, fields: Record<string, unknown>, message: string): void {
    const t = d.throttle.take(`${peerIp} ${code}`);
    const line = { peerIp, ...names, code, ...fields, ...(t.suppressed ? { suppressed: t.suppressed } : {}) };
    if (t.log) {
      log.warn(line, message);
    } else {
      log.debug(line, message);
    }
  }

  /** Sends `pdu` (if any) and half-closes; the peer has the close grace to close its side. */
  function closeWith(pdu: Buffer | null): void {
    framer.close();
    state = 'closing';
    watchdog.phase('closing');
    if (!socket.destroyed) {
      if (pdu) {
        socket.end(pdu);
      } else {
        socket.end();
      }
    }
  }

  function abortWith(reason: string, code: ErrorCode, abortSource: number, abortReason: number): void {
    if (state === 'closing' || socket.destroyed) {
      return;
    }
    warn(code, { reason }, 'Connection dropped.');
    void assoc?.messages.abandon();
    closeWith(encodeAbort(abortSource, abortReason));
  }

  function reject(r: Rejection): void {
    warn(r.code, { result: r.result, source: r.source, reason: r.reason }, `Association rejected: ${r.message}`);
    d.events.emit('association.rejected', { peerIp, ...names, code: r.code, reason: r.reason });
    closeWith(encodeAssociateRj(r.result, r.source, r.reason));
  }

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
        onAssociateRq(body);
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

  function onAssociateRq(body: Buffer): void {
    let rq: AssociateRequest;
    try {
      rq = decodeAssociateRq(body);
    } catch (err) {
      if (!(err instanceof PduError)) {
        throw err;
      }
      abortWith(`malformed A-ASSOCIATE-RQ: ${err.message}`, ErrorCode.ASSOC_REQUEST_INVALID, 2, err.abortReason);
      return;
    }
    names = { callingAe: rq.callingAe, calledAe: rq.calledAe };
    const problem = requestProblem(rq);
    if (problem) {
      reject(problem);
      return;
    }
    const request: AssociationRequest = {
      calledAe: rq.calledAe,
      callingAe: rq.callingAe,
      peerIp,
      openAssociations: d.limits.associations,
      peerAssociations: d.limits.associationsOf(peerIp),
    };
    // Counted at once, before anything is awaited: connections negotiating at the same time each
    // see the others, so together they cannot exceed the association limits.
    d.limits.associated(peerIp);
    counted = true;
    state = 'accepting';
    accepting = accept(rq, request).catch((err: unknown) => {
      log.error({ err, peerIp }, 'Answering an A-ASSOCIATE-RQ failed.');
      abortWith(`internal error: ${describeError(err)}`, ErrorCode.PDU_INVALID, 2, 0);
    });
  }

  /** The connection ended (or is ending) while its A-ASSOCIATE-RQ was being answered. */
  const ended = (): boolean => socket.destroyed || state !== 'accepting';

  /** Refuses the association being accepted: the connection is pending again until it closes. */
  function refuse(r: Rejection): void {
    d.limits.notAssociated(peerIp);
    counted = false;
    reject(r);
  }

  async function accept(rq: AssociateRequest, request: AssociationRequest): Promise<void> {
    const shuttingDown: Rejection = {
      result: 2,
      source: 3,
      reason: 2,
      code: ErrorCode.SHUTTING_DOWN,
      message: 'The gateway is shutting down.',
    };
    const refused = (await d.policy(request)) ?? (d.isStopping() ? shuttingDown : null);
    if (ended()) {
      return;
    }
    if (refused) {
      refuse(refused);
      return;
    }
    const n = negotiateContexts(rq.contexts);
    if (n.results.length === 0) {
      refuse({
        result: 1,
        source: 1,
        reason: 1,
        code: ErrorCode.ASSOC_REQUEST_INVALID,
        message: `No presentation context can be answered (${String(rq.contexts.length)} proposed; ids must be odd, 1–255, distinct).`,
      });
      return;
    }
    if (n.skipped.invalidId || n.skipped.duplicateId) {
      warn(
        ErrorCode.ASSOC_REQUEST_INVALID,
        { invalidIds: n.skipped.invalidId, repeatedIds: n.skipped.duplicateId },
        'Presentation contexts with even, zero or repeated ids left unanswered.',
      );
    }
    let uid: string;
    try {
      uid = await d.intake.openAssociation({
        source: 'dimse',
        sender: names.callingAe,
        calledAe: names.calledAe,
        peerIp,
        reportsEvents: true,
      });
    } catch (err) {
      log.error({ err }, 'Recording a new association failed.');
      if (!ended()) {
        refuse({
          result: 2,
          source: 3,
          reason: 1,
          code: ErrorCode.DB_WRITE,
          message: 'The association could not be recorded.',
        });
      }
      return;
    }
    if (ended()) {
      // Recorded, but nobody is left to use it: closed at once, so it holds no series open.
      d.intake.closeAssociation(uid, outcome);
      return;
    }
    const messages = createMessageHandler({
      accepted: n.accepted,
      intake: d.intake,
      ...names,
      peerIp,
      associationUid: uid,
      log,
      events: d.events,
      peerMaxPdu: rq.maxPduLength,
      send: (b) => {
        if (!socket.destroyed && socket.writable) {
          socket.write(b);
        }
      },
      pause: () => socket.pause(),
      resume: () => socket.resume(),
      changed: updatePhase,
    });
    assoc = { uid, ...names, at: d.clock.now(), messages };
    state = 'open';
    socket.write(
      encodeAssociateAc({
        calledAeField: rq.calledAeField,
        callingAeField: rq.callingAeField,
        contexts: n.results,
        maxPduLength: cfg.maxPduBytes,
        implementationClassUid: IMPLEMENTATION_CLASS_UID,
        implementationVersion: IMPLEMENTATION_VERSION,
      }),
    );
    d.events.emit('association.opened', { source: 'dimse', associationUid: uid, peerIp, ...names });
    updatePhase();
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
