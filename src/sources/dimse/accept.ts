//! Answering an A-ASSOCIATE-RQ: checks, admission, presentation contexts and the association row, then A-ASSOCIATE-AC or -RJ.
// A request is counted in the peer limits before anything is awaited, so connections negotiating
// at the same time see each other. While it is answered the connection may end (a peer's A-ABORT,
// a drop, the close): every await is followed by a look, and a row recorded after the end is
// closed at once. A request refused after being counted is uncounted; its connection is pending
// again until it closes.
import type { Socket } from 'node:net';
import { decodeAssociateRq, encodeAssociateAc, type AssociateRequest } from '../../dicom/associate.ts';
import { PduError } from '../../dicom/pdu.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../../dicom/part10.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { Clock, DaemonEvents, Logger } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import type { AeNames, Closing } from './closing.ts';
import type { DimseConfig } from './config.ts';
import { createMessageHandler, type MessageHandler } from './messages.ts';
import { negotiateContexts } from './negotiate.ts';
import type { PeerLimits } from './peer-limits.ts';
import { requestProblem, type ConnectionState } from './protocol-rules.ts';
import type { AssociationRequest, Rejection } from './policy.ts';

export interface AcceptDeps {
  readonly cfg: DimseConfig;
  readonly intake: Intake;
  readonly log: Logger;
  readonly events: DaemonEvents;
  readonly clock: Clock;
  readonly policy: (rq: AssociationRequest) => Promise<Rejection | null>;
  readonly limits: PeerLimits;
  readonly isStopping: () => boolean;
}

/** An accepted association, carried by its connection from the A-ASSOCIATE-AC to the close. */
export interface Opened {
  readonly uid: string;
  readonly callingAe: string;
  readonly calledAe: string;
  readonly at: number;
  readonly messages: MessageHandler;
}

/** How a connection ended, for its association row. */
export type Outcome = 'released' | 'aborted' | 'dropped';

/** What answering needs of the connection the request arrived on. */
export interface AcceptingConnection {
  readonly peerIp: string;
  readonly socket: Socket;
  readonly closing: Closing;
  readonly state: () => ConnectionState;
  /** The request's AE titles, for the connection's log lines from now on. */
  readonly named: (names: AeNames) => void;
  /** Whether the connection counts as an association in the peer limits (released on close). */
  readonly counted: (yes: boolean) => void;
  /** The request is being answered: state 'accepting'. */
  readonly accepting: () => void;
  /** The request is accepted: the connection carries `a`, state 'open'. */
  readonly opened: (a: Opened) => void;
  readonly outcome: () => Outcome;
  /** Which deadline runs now (watchdog.ts); also called when the messages' turn changes. */
  readonly updatePhase: () => void;
}

/**
 * Answers the A-ASSOCIATE-RQ in `body`: at once (A-ABORT when malformed, A-ASSOCIATE-RJ when
 * unusable; null), or once admission and the association row are awaited (the promise, which
 * settles and never rejects). Throws whatever is not a PduError.
 */
export function answerAssociateRq(body: Buffer, d: AcceptDeps, c: AcceptingConnection): Promise<void> | null {
  const { cfg, log } = d;
  const { peerIp, socket } = c;
  const { warn, abortWith, reject } = c.closing;
  let rq: AssociateRequest;
  try {
    rq = decodeAssociateRq(body);
  } catch (err) {
    if (!(err instanceof PduError)) {
      throw err;
    }
    abortWith(`malformed A-ASSOCIATE-RQ: ${err.message}`, ErrorCode.ASSOC_REQUEST_INVALID, 2, err.abortReason);
    return null;
  }
  const names: AeNames = { callingAe: rq.callingAe, calledAe: rq.calledAe };
  c.named(names);
  const problem = requestProblem(rq);
  if (problem) {
    reject(problem);
    return null;
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
  c.counted(true);
  c.accepting();
  return accept(rq, request).catch((err: unknown) => {
    log.error({ err, peerIp }, 'Answering an A-ASSOCIATE-RQ failed.');
    abortWith(`internal error: ${describeError(err)}`, ErrorCode.PDU_INVALID, 2, 0);
  });

  /** The connection ended (or is ending) while its A-ASSOCIATE-RQ was being answered. */
  function ended(): boolean {
    return socket.destroyed || c.state() !== 'accepting';
  }

  /** Refuses the association being accepted: the connection is pending again until it closes. */
  function refuse(r: Rejection): void {
    d.limits.notAssociated(peerIp);
    c.counted(false);
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
      d.intake.closeAssociation(uid, c.outcome());
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
      changed: c.updatePhase,
    });
    c.opened({ uid, ...names, at: d.clock.now(), messages });
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
    c.updatePhase();
  }
}
