//! Ending a connection from our side: the last PDU (A-ASSOCIATE-RJ, A-ABORT, A-RELEASE-RP) and a half-close, with the warning that says why.
// We half-close rather than destroy, so the peer reads our last PDU before it sees the end; the
// watchdog then gives it the close grace to close its side. The warnings are throttled per peer
// and code (log-throttle.ts): a peer retrying in a loop costs one line per 10 s, not one per try.
import type { Socket } from 'node:net';
import { encodeAssociateRj } from '../../dicom/associate.ts';
import { encodeAbort } from '../../dicom/pdu.ts';
import type { ErrorCode } from '../../errors.ts';
import type { DaemonEvents, Logger } from '../../contracts/component.ts';
import type { LogThrottle } from './log-throttle.ts';
import type { Rejection } from './policy.ts';

/** The AE titles of the connection's A-ASSOCIATE-RQ (empty before one arrives), on its log lines. */
export interface AeNames {
  readonly callingAe: string;
  readonly calledAe: string;
}

export interface ClosingDeps {
  readonly socket: Socket;
  readonly peerIp: string;
  readonly log: Logger;
  readonly events: DaemonEvents;
  readonly throttle: LogThrottle;
  readonly names: () => AeNames;
  /** True once the connection is closing (our last PDU is sent). */
  readonly isClosing: () => boolean;
  /** Stops reading PDUs and enters the closing state (the watchdog's close grace). */
  readonly enterClosing: () => void;
  /** Drops the message being received, if any (its instance file removed). */
  readonly abandon: () => void;
}

export interface Closing {
  /** A warning, at most one per peer, code and 10 s; the rest at debug (log-throttle.ts). */
  readonly warn: (code: ErrorCode, fields: Record<string, unknown>, message: string) => void;
  /** Sends `pdu` (if any) and half-closes; the peer has the close grace to close its side. */
  readonly closeWith: (pdu: Buffer | null) => void;
  /** Sends A-ABORT (PS3.8 §9.3.8 source and reason), unless the connection is already closing. */
  readonly abortWith: (reason: string, code: ErrorCode, abortSource: number, abortReason: number) => void;
  /** Sends A-ASSOCIATE-RJ. */
  readonly reject: (r: Rejection) => void;
}

export function createClosing(d: ClosingDeps): Closing {
  const { socket, peerIp, log } = d;

  function warn(code: ErrorCode, fields: Record<string, unknown>, message: string): void {
    const t = d.throttle.take(`${peerIp} ${code}`);
    const line = { peerIp, ...d.names(), code, ...fields, ...(t.suppressed ? { suppressed: t.suppressed } : {}) };
    if (t.log) {
      log.warn(line, message);
    } else {
      log.debug(line, message);
    }
  }

  function closeWith(pdu: Buffer | null): void {
    d.enterClosing();
    if (!socket.destroyed) {
      if (pdu) {
        socket.end(pdu);
      } else {
        socket.end();
      }
    }
  }

  function abortWith(reason: string, code: ErrorCode, abortSource: number, abortReason: number): void {
    if (d.isClosing() || socket.destroyed) {
      return;
    }
    warn(code, { reason }, 'Connection dropped.');
    d.abandon();
    closeWith(encodeAbort(abortSource, abortReason));
  }

  function reject(r: Rejection): void {
    warn(r.code, { result: r.result, source: r.source, reason: r.reason }, `Association rejected: ${r.message}`);
    d.events.emit('association.rejected', { peerIp, ...d.names(), code: r.code, reason: r.reason });
    closeWith(encodeAssociateRj(r.result, r.source, r.reason));
  }

  return { warn, closeWith, abortWith, reject };
}
