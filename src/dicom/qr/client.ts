//! The Q/R SCU: C-ECHO, C-FIND, C-MOVE and C-GET (Study Root) against one PACS, one association per call or per session.
import { CommandField, NO_DATASET, Tag, commandElement, ui, us, withGroupLength } from '../command-set.ts';
import { VERIFICATION_SOP_CLASS } from '../sop-class.ts';
import { TS } from '../transfer-syntax.ts';
import type { QrClient, QrClientOptions, QrPeer } from './api.ts';
import { openCall, releaseQuietly, untilClosed } from './exchange.ts';
import { QrError } from './failure.ts';
import { findSession } from './find.ts';
import { retrieve } from './retrieve.ts';
import { describeQrStatus } from './status.ts';

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
  // One Message ID counter per client: find.ts and retrieve.ts draw from it, so IDs never repeat on a PACS.
  let messageId = 0;
  const nextId = (): number => (messageId = (messageId % 0xffff) + 1);
  return {
    peer,
    async echo(signal) {
      const { a, detach } = await openCall(
        o,
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
    find: (level, keys, signal) => findSession(o, nextId, signal, (s) => s.find(level, keys)),
    findSession: (signal, fn) => findSession(o, nextId, signal, fn),
    move: (level, keys, x) => retrieve(o, nextId, 'move', level, keys, x),
    get: (level, keys, x) => retrieve(o, nextId, 'get', level, keys, x),
  };
}
