//! Answering a DIMSE request: its response, or a refusal with the warning and event that go with it.
// Both the command dispatch (commands.ts) and the C-STORE receive path (store.ts) answer requests,
// and a refusal must look the same from either: a warning naming our error code, and the code and
// reason in the response's Error Comment so the sender's log says what ours does. A refused
// C-STORE is also a failed instance on the events bus.
import { CommandField } from '../../dicom/command-set.ts';
import type { ErrorCode } from '../../errors.ts';
import type { DaemonEvents, Logger } from '../../contracts/component.ts';
import { encodeResponse, type Response } from './response.ts';

export interface AnswerDeps {
  readonly callingAe: string;
  readonly peerIp: string;
  readonly log: Logger;
  readonly events: DaemonEvents;
  /** The requestor's receive limit (0 = none): responses are cut to fit. */
  readonly peerMaxPdu: number;
  /** Writes a response to the peer (a no-op once the connection is closing). */
  readonly send: (bytes: Buffer) => void;
}

export interface Answers {
  readonly respond: (r: Response) => void;
  /** Answers with failure `status`, its Error Comment `code: message`, after a warning. */
  readonly refuse: (
    code: ErrorCode,
    message: string,
    status: number,
    r: Omit<Response, 'status' | 'errorComment'>,
  ) => void;
}

export function createAnswers(d: AnswerDeps): Answers {
  function respond(r: Response): void {
    d.send(encodeResponse(r, d.peerMaxPdu));
  }

  function refuse(
    code: ErrorCode,
    message: string,
    status: number,
    r: Omit<Response, 'status' | 'errorComment'>,
  ): void {
    d.log.warn(
      { peerIp: d.peerIp, callingAe: d.callingAe, code, status, reason: message },
      r.requestField === CommandField.CStoreRq ? 'C-STORE refused.' : 'DIMSE request refused.',
    );
    if (r.requestField === CommandField.CStoreRq) {
      d.events.emit('instance.failed', { source: 'dimse', code });
    }
    respond({ ...r, status, errorComment: `${code}: ${message}` });
  }

  return { respond, refuse };
}
