//! Study Root C-MOVE and C-GET: one retrieve on its own association, its progress, and the final counts.
import { CommandField } from '../command-set.ts';
import type { StoreHandler } from '../association/incoming-store.ts';
import type { QrClientOptions, RetrieveProgress, RetrieveResult } from './api.ts';
import { describeFailure, identifierSyntax, openCall, releaseQuietly, run, untilClosed } from './exchange.ts';
import { QrError } from './failure.ts';
import { decodeIdentifier, encodeIdentifier, type Identifier } from './identifier.ts';
import { encodeQueryRq } from './messages.ts';
import {
  DEFAULT_GET_STORAGE_CLASSES,
  QUERY_TRANSFER_SYNTAXES,
  StudyRoot,
  getAssociationContexts,
  type QrLevel,
} from './sop-classes.ts';
import { classifyQrStatus } from './status.ts';

export async function retrieve(
  o: QrClientOptions,
  nextId: () => number,
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
  const { a, detach } = await openCall(
    o,
    plan.contexts,
    x.signal,
    move ? {} : { ...(x.store ? { store: x.store } : {}), roles: plan.roles },
  );
  return untilClosed(a, async () => {
    try {
      const ts = identifierSyntax(o, a, 1, move ? 'Study Root C-MOVE' : 'Study Root C-GET');
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
        o,
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
      ).catch((err: unknown) => describeFailure(o, err));
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
