//! One Q/R association's exchange: opened under the caller's signal, one request read to its final response, C-CANCEL on abort.
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../part10.ts';
import type { ProposedContext, RoleSelection } from '../pdu.ts';
import type { StoreHandler } from '../association/incoming-store.ts';
import { openQrAssociation, type QrAssociation, type ResponseMessage } from '../association/qr-scu.ts';
import type { QrClientOptions } from './api.ts';
import { QrError } from './failure.ts';
import { IdentifierError } from './identifier.ts';
import { encodeCancelRq } from './messages.ts';
import { classifyQrStatus } from './status.ts';

const DEFAULT_MAX_PDU = 64 * 1024;

/**
 * Opens the association of one call (or find session). Until it is accepted the caller's signal aborts
 * it; afterwards the signal only asks `run` for a C-CANCEL, so `detach` must be called when done.
 */
export async function openCall(
  o: QrClientOptions,
  contexts: readonly ProposedContext[],
  signal: AbortSignal,
  extra: { store?: StoreHandler; roles?: readonly RoleSelection[] } = {},
): Promise<{ a: QrAssociation; detach: () => void }> {
  // `hard` aborts the association; the caller's signal only asks for a C-CANCEL (see run()).
  const hard = new AbortController();
  const onAbort = (): void => {
    if (!opened) {
      hard.abort(signal.reason);
    }
  };
  let opened = false;
  signal.addEventListener('abort', onAbort, { once: true });
  if (signal.aborted) {
    hard.abort(signal.reason);
  }
  try {
    const a = await openQrAssociation({
      host: o.host,
      port: o.port,
      calledAe: o.calledAe,
      callingAe: o.callingAe,
      contexts,
      maxPduLength: o.maxPduLength ?? DEFAULT_MAX_PDU,
      connectTimeoutMs: o.connectTimeoutMs,
      responseTimeoutMs: o.responseTimeoutMs,
      signal: hard.signal,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersion: IMPLEMENTATION_VERSION,
      ...(extra.store ? { store: extra.store } : {}),
      ...(extra.roles ? { roles: extra.roles } : {}),
    });
    opened = true;
    return {
      a,
      detach: () => {
        signal.removeEventListener('abort', onAbort);
      },
    };
  } catch (err) {
    signal.removeEventListener('abort', onAbort);
    throw err;
  }
}

export function identifierSyntax(o: QrClientOptions, a: QrAssociation, contextId: number, what: string): string {
  const ts = a.accepted.get(contextId);
  if (ts === undefined) {
    const err = new QrError('context', `${o.calledAe} does not accept ${what}`);
    a.abort(err);
    throw err;
  }
  return ts;
}

/**
 * Sends one request and reads responses until the final one; `signal` → C-CANCEL, then the
 * final response within cancelTimeoutMs or an A-ABORT.
 */
export async function run(
  o: QrClientOptions,
  a: QrAssociation,
  contextId: number,
  rq: Buffer,
  identifier: Buffer,
  id: number,
  idleMs: number,
  signal: AbortSignal,
  onResponse: (m: ResponseMessage) => void,
): Promise<{ final: ResponseMessage; cancelled: boolean }> {
  let cancelled = false;
  let cancelTimer: NodeJS.Timeout | undefined;
  const onCancel = (): void => {
    if (cancelled) {
      return;
    }
    cancelled = true;
    try {
      a.send(contextId, encodeCancelRq(id));
    } catch {
      // The association already failed; next() reports how.
      return;
    }
    cancelTimer = setTimeout(() => {
      a.abort(
        new QrError(
          'interrupted',
          `cancelled; ${o.calledAe} did not end the operation within ${String(o.cancelTimeoutMs)} ms of C-CANCEL`,
        ),
      );
    }, o.cancelTimeoutMs);
  };
  signal.addEventListener('abort', onCancel, { once: true });
  try {
    a.send(contextId, rq, identifier);
    if (signal.aborted) {
      onCancel();
    }
    for (;;) {
      const m = await a.next(idleMs);
      if (m.command.messageIdBeingRespondedTo !== null && m.command.messageIdBeingRespondedTo !== id) {
        const err = new QrError(
          'protocol',
          `${o.calledAe} answered message ${String(m.command.messageIdBeingRespondedTo)}, not ${String(id)}`,
        );
        a.abort(err);
        throw err;
      }
      if (classifyQrStatus(m.command.status ?? 0) === 'pending') {
        onResponse(m);
        continue;
      }
      return { final: m, cancelled };
    }
  } finally {
    clearTimeout(cancelTimer);
    signal.removeEventListener('abort', onCancel);
  }
}

/** Runs `fn`, then waits for the connection to be gone (a PACS counts the association until then). */
export async function untilClosed<T>(a: QrAssociation, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } finally {
    // A peer that never closes is destroyed by the association itself (after A-ABORT's grace or at release).
    await a.closed;
  }
}

export async function releaseQuietly(a: QrAssociation): Promise<void> {
  // The operation's outcome is already known; a PACS that does not answer A-RELEASE-RQ changes nothing.
  await a.release().catch(() => undefined);
}

export function describeFailure(o: QrClientOptions, err: unknown): never {
  if (err instanceof IdentifierError) {
    throw new QrError('protocol', `${o.calledAe} sent an unreadable identifier: ${err.message}`);
  }
  throw err;
}
