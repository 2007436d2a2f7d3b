//! The Q/R SCU: C-ECHO, C-FIND, C-MOVE and C-GET (Study Root) against one PACS, one association per call or per session.
// Cancelling (the caller's signal) sends C-CANCEL-RQ and waits, briefly, for the PACS's final
// response; a PACS that does not answer is aborted. Failure statuses of C-FIND and association
// problems throw QrError; a C-MOVE or C-GET always returns its final status and counts, because
// what they say about sub-operations is what the caller must check against what arrived.
import { CommandField, NO_DATASET, Tag, commandElement, ui, us, withGroupLength } from '../command-set.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../part10.ts';
import type { ProposedContext, RoleSelection } from '../pdu.ts';
import { VERIFICATION_SOP_CLASS } from '../sop-class.ts';
import { TS } from '../transfer-syntax.ts';
import type { StoreHandler } from '../association/incoming-store.ts';
import { openQrAssociation, type QrAssociation, type ResponseMessage } from '../association/qr-scu.ts';
import { QrError } from './failure.ts';
import { decodeIdentifier, encodeIdentifier, IdentifierError, type Identifier } from './identifier.ts';
import { encodeCancelRq, encodeQueryRq } from './messages.ts';
import {
  DEFAULT_GET_STORAGE_CLASSES,
  QUERY_TRANSFER_SYNTAXES,
  StudyRoot,
  getAssociationContexts,
  type QrLevel,
} from './sop-classes.ts';
import { classifyQrStatus, describeQrStatus, type QrStatusClass } from './status.ts';

export interface QrPeer {
  readonly host: string;
  readonly port: number;
  /** The PACS's AE title. */
  readonly calledAe: string;
  /** Ours, as the PACS knows it. */
  readonly callingAe: string;
}

export interface QrTimeouts {
  readonly connectTimeoutMs: number;
  /** A-ASSOCIATE-AC, C-ECHO-RSP, each C-FIND response, A-RELEASE-RP. */
  readonly responseTimeoutMs: number;
  /** Longest silence between C-MOVE/C-GET responses (and C-GET sub-operations). */
  readonly retrieveIdleTimeoutMs: number;
  /** After C-CANCEL, how long the PACS has to send its final response before we abort. */
  readonly cancelTimeoutMs: number;
}

export interface QrClientOptions extends QrPeer, QrTimeouts {
  /** Our receive limit (default 64 KiB; C-GET of large instances benefits from more). */
  readonly maxPduLength?: number;
}

/** Progress of a C-MOVE/C-GET: the counts of its latest pending response. */
export interface RetrieveProgress {
  readonly remaining: number | null;
  readonly completed: number | null;
  readonly failed: number | null;
  readonly warning: number | null;
}

export interface RetrieveResult extends RetrieveProgress {
  /** Final status, and its class. */
  readonly status: number;
  readonly statusClass: QrStatusClass;
  readonly errorComment: string | null;
  /** Pending responses seen before the final one. */
  readonly pendingResponses: number;
  /** True when the operation ended because we sent C-CANCEL. */
  readonly cancelled: boolean;
  /** C-GET: sub-operations received on the association, answered Success / refused. */
  readonly stored: number;
  readonly refused: number;
  /** Failed SOP Instance UID List (0008,0058) of the final response, when the PACS sends one. */
  readonly failedSopInstanceUids: readonly string[];
}

export interface FindResult {
  readonly matches: readonly Record<string, string>[];
  /** True when some pending responses said optional keys were not supported (0xFF01). */
  readonly optionalKeysUnsupported: boolean;
}

/** Several C-FINDs on one association (resolution and expected counts of one row). */
export interface FindSession {
  find(level: QrLevel, keys: Identifier): Promise<FindResult>;
}

export interface QrClient {
  readonly peer: QrPeer;
  echo(signal: AbortSignal): Promise<void>;
  find(level: QrLevel, keys: Identifier, signal: AbortSignal): Promise<FindResult>;
  /** Opens one association with the FIND context, runs `fn`, releases it. */
  findSession<T>(signal: AbortSignal, fn: (s: FindSession) => Promise<T>): Promise<T>;
  move(
    level: QrLevel,
    keys: Identifier,
    o: { destinationAe: string; signal: AbortSignal; onProgress?: (p: RetrieveProgress) => void },
  ): Promise<RetrieveResult>;
  get(
    level: QrLevel,
    keys: Identifier,
    o: {
      store: StoreHandler;
      signal: AbortSignal;
      storageClasses?: readonly string[];
      onProgress?: (p: RetrieveProgress) => void;
    },
  ): Promise<RetrieveResult>;
}

const DEFAULT_MAX_PDU = 64 * 1024;
/** A C-FIND answering more matches than this is refused as a runaway query. */
const MAX_MATCHES = 10_000;

function echoRq(messageId: number): Buffer {
  return withGroupLength([
    commandElement(Tag.AffectedSopClass, ui(VERIFICATION_SOP_CLASS)),
    commandElement(Tag.CommandField, us(CommandField.CEchoRq)),
    commandElement(Tag.MessageId, us(messageId)),
    commandElement(Tag.DatasetType, us(NO_DATASET)),
  ]);
}

export function createQrClient(o: QrClientOptions): QrClient {
  const peer: QrPeer = { host: o.host, port: o.port, calledAe: o.calledAe, callingAe: o.callingAe };
  let messageId = 0;
  const nextId = (): number => (messageId = (messageId % 0xffff) + 1);

  async function open(
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

  function identifierSyntax(a: QrAssociation, contextId: number, what: string): string {
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
  async function run(
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
  async function untilClosed<T>(a: QrAssociation, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } finally {
      // A peer that never closes is destroyed by the association itself (after A-ABORT's grace or at release).
      await a.closed;
    }
  }

  async function releaseQuietly(a: QrAssociation): Promise<void> {
    // The operation's outcome is already known; a PACS that does not answer A-RELEASE-RQ changes nothing.
    await a.release().catch(() => undefined);
  }

  function describeFailure(err: unknown): never {
    if (err instanceof IdentifierError) {
      throw new QrError('protocol', `${o.calledAe} sent an unreadable identifier: ${err.message}`);
    }
    throw err;
  }

  async function findOn(a: QrAssociation, level: QrLevel, keys: Identifier, signal: AbortSignal): Promise<FindResult> {
    const ts = identifierSyntax(a, 1, 'Study Root C-FIND');
    const id = nextId();
    const matches: Record<string, string>[] = [];
    let optionalKeysUnsupported = false;
    const identifier = encodeIdentifier({ QueryRetrieveLevel: level, ...keys }, ts);
    try {
      const { final } = await run(
        a,
        1,
        encodeQueryRq({ field: CommandField.CFindRq, messageId: id, sopClassUid: StudyRoot.Find }),
        identifier,
        id,
        o.responseTimeoutMs,
        signal,
        (m) => {
          if (m.command.commandField !== CommandField.CFindRsp) {
            throw new QrError(
              'protocol',
              `${o.calledAe} answered C-FIND with command 0x${m.command.commandField.toString(16)}`,
            );
          }
          if (m.command.status === 0xff01) {
            optionalKeysUnsupported = true;
          }
          if (!m.dataset) {
            return;
          }
          if (matches.length >= MAX_MATCHES) {
            const err = new QrError('status', `${o.calledAe} returned more than ${String(MAX_MATCHES)} matches`);
            a.abort(err);
            throw err;
          }
          matches.push(decodeIdentifier(m.dataset, ts));
        },
      );
      const status = final.command.status ?? 0;
      const cls = classifyQrStatus(status);
      if (signal.aborted || cls === 'cancel') {
        throw new QrError('interrupted', 'C-FIND cancelled');
      }
      if (cls !== 'success' && cls !== 'warning') {
        throw new QrError(
          'status',
          `C-FIND answered ${describeQrStatus(status)}${final.command.errorComment ? `: ${final.command.errorComment}` : ''}`,
          { status },
        );
      }
      return { matches, optionalKeysUnsupported };
    } catch (err) {
      return describeFailure(err);
    }
  }

  async function retrieve(
    kind: 'move' | 'get',
    level: QrLevel,
    keys: Identifier,
    x: {
      destinationAe?: string;
      store?: StoreHandler;
      storageClasses?: readonly string[];
      signal: AbortSignal;
      onProgress?: (p: RetrieveProgress) => void;
    },
  ): Promise<RetrieveResult> {
    const move = kind === 'move';
    const plan = move
      ? { contexts: [{ id: 1, abstractSyntax: StudyRoot.Move, transferSyntaxes: QUERY_TRANSFER_SYNTAXES }], roles: [] }
      : getAssociationContexts(x.storageClasses ?? DEFAULT_GET_STORAGE_CLASSES);
    const { a, detach } = await open(
      plan.contexts,
      x.signal,
      move ? {} : { ...(x.store ? { store: x.store } : {}), roles: plan.roles },
    );
    return untilClosed(a, async () => {
      try {
        const ts = identifierSyntax(a, 1, move ? 'Study Root C-MOVE' : 'Study Root C-GET');
        const id = nextId();
        let pendingResponses = 0;
        let last: RetrieveProgress = { remaining: null, completed: null, failed: null, warning: null };
        const rq = move
          ? encodeQueryRq({
              field: CommandField.CMoveRq,
              messageId: id,
              sopClassUid: StudyRoot.Move,
              moveDestination: x.destinationAe ?? '',
            })
          : encodeQueryRq({ field: CommandField.CGetRq, messageId: id, sopClassUid: StudyRoot.Get });
        const expected = move ? CommandField.CMoveRsp : CommandField.CGetRsp;
        const { final, cancelled } = await run(
          a,
          1,
          rq,
          encodeIdentifier({ QueryRetrieveLevel: level, ...keys }, ts),
          id,
          o.retrieveIdleTimeoutMs,
          x.signal,
          (m) => {
            if (m.command.commandField !== expected) {
              throw new QrError(
                'protocol',
                `${o.calledAe} answered C-${kind.toUpperCase()} with command 0x${m.command.commandField.toString(16)}`,
              );
            }
            pendingResponses++;
            last = {
              remaining: m.command.remaining,
              completed: m.command.completed,
              failed: m.command.failed,
              warning: m.command.warning,
            };
            x.onProgress?.(last);
          },
        ).catch(describeFailure);
        const c = final.command;
        if (c.commandField !== expected) {
          throw new QrError(
            'protocol',
            `${o.calledAe} answered C-${kind.toUpperCase()} with command 0x${c.commandField.toString(16)}`,
          );
        }
        let failedSopInstanceUids: readonly string[] = c.failedSopInstanceUids;
        if (final.dataset) {
          const failedList = decodeIdentifier(final.dataset, ts).FailedSOPInstanceUIDList;
          failedSopInstanceUids = failedList ? failedList.split('\\').filter(Boolean) : [];
        }
        await releaseQuietly(a);
        const status = c.status ?? 0;
        return {
          status,
          statusClass: classifyQrStatus(status),
          errorComment: c.errorComment,
          remaining: c.remaining,
          completed: c.completed,
          failed: c.failed,
          warning: c.warning,
          pendingResponses,
          cancelled: cancelled || classifyQrStatus(status) === 'cancel',
          stored: a.received.stored,
          refused: a.received.refused,
          failedSopInstanceUids,
        };
      } catch (err) {
        a.abort(err instanceof QrError ? err : undefined);
        throw err;
      } finally {
        detach();
      }
    });
  }

  async function findSession<T>(signal: AbortSignal, fn: (s: FindSession) => Promise<T>): Promise<T> {
    const { a, detach } = await open(
      [{ id: 1, abstractSyntax: StudyRoot.Find, transferSyntaxes: QUERY_TRANSFER_SYNTAXES }],
      signal,
    );
    return untilClosed(a, async () => {
      try {
        const out = await fn({ find: (level, keys) => findOn(a, level, keys, signal) });
        await releaseQuietly(a);
        return out;
      } catch (err) {
        // A failure status leaves the association usable: end it politely.
        if (err instanceof QrError && err.kind === 'status') {
          await releaseQuietly(a);
        } else {
          a.abort(err instanceof QrError ? err : undefined);
        }
        throw err;
      } finally {
        detach();
      }
    });
  }

  return {
    peer,
    async echo(signal) {
      const { a, detach } = await open(
        [{ id: 1, abstractSyntax: VERIFICATION_SOP_CLASS, transferSyntaxes: [TS.ImplicitLE] }],
        signal,
      );
      await untilClosed(a, async () => {
        try {
          if (!a.accepted.has(1)) {
            const err = new QrError('context', `${o.calledAe} does not accept Verification`);
            a.abort(err);
            throw err;
          }
          const id = nextId();
          a.send(1, echoRq(id));
          const m = await a.next(o.responseTimeoutMs);
          if (m.command.commandField !== CommandField.CEchoRsp || (m.command.status ?? 0) !== 0) {
            await releaseQuietly(a);
            throw new QrError('status', `C-ECHO answered ${describeQrStatus(m.command.status ?? 0)}`, {
              status: m.command.status ?? 0,
            });
          }
          await a.release();
        } catch (err) {
          a.abort(err instanceof QrError ? err : undefined);
          throw err;
        } finally {
          detach();
        }
      });
    },
    find: (level, keys, signal) => findSession(signal, (s) => s.find(level, keys)),
    findSession,
    move: (level, keys, x) => retrieve('move', level, keys, x),
    get: (level, keys, x) => retrieve('get', level, keys, x),
  };
}
