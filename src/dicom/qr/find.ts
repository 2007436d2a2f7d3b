//! Study Root C-FIND: matches of one query, or several queries on one association (a find session).
import { CommandField } from '../command-set.ts';
import type { QrAssociation } from '../association/qr-scu.ts';
import type { FindResult, FindSession, QrClientOptions } from './api.ts';
import { describeFailure, identifierSyntax, openCall, releaseQuietly, run, untilClosed } from './exchange.ts';
import { QrError } from './failure.ts';
import { decodeIdentifier, encodeIdentifier, type Identifier } from './identifier.ts';
import { encodeQueryRq } from './messages.ts';
import { QUERY_TRANSFER_SYNTAXES, StudyRoot, type QrLevel } from './sop-classes.ts';
import { classifyQrStatus, describeQrStatus } from './status.ts';

/** A C-FIND answering more matches than this is refused as a runaway query. */
const MAX_MATCHES = 10_000;

export async function findOn(
  o: QrClientOptions,
  nextId: () => number,
  a: QrAssociation,
  level: QrLevel,
  keys: Identifier,
  signal: AbortSignal,
): Promise<FindResult> {
  const ts = identifierSyntax(o, a, 1, 'Study Root C-FIND');
  const id = nextId();
  const matches: Record<string, string>[] = [];
  let optionalKeysUnsupported = false;
  const identifier = encodeIdentifier({ QueryRetrieveLevel: level, ...keys }, ts);
  try {
    const { final } = await run(
      o,
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
    return describeFailure(o, err);
  }
}

export async function findSession<T>(
  o: QrClientOptions,
  nextId: () => number,
  signal: AbortSignal,
  fn: (s: FindSession) => Promise<T>,
): Promise<T> {
  const { a, detach } = await openCall(
    o,
    [{ id: 1, abstractSyntax: StudyRoot.Find, transferSyntaxes: QUERY_TRANSFER_SYNTAXES }],
    signal,
  );
  return untilClosed(a, async () => {
    try {
      const out = await fn({ find: (level, keys) => findOn(o, nextId, a, level, keys, signal) });
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
