//! Reads a STOW-RS body part by part, each stored (or refused) before the next is read; stops at the size limit, a cut or a stop.
import type { IncomingMessage } from 'node:http';
import { type ErrorCode, describeError } from '../../errors.ts';
import { FailureReason } from './failure.ts';
import { MultipartError, type MultipartParser } from './multipart.ts';
import type { PartOutcome, PartReceiver } from './part-api.ts';
import type { Refusal } from './refusal.ts';
import type { RequestDeps } from './request-deps.ts';
import { StowErrorCode } from './errors.ts';

/** What became of the body: parts settled, and why reading stopped early, if it did. */
export interface BodyResult {
  readonly results: PartOutcome[];
  /** The client went away: nobody to answer. */
  readonly aborted: boolean;
  /** A refusal that replaces the answer (413, 400 for a body without parts). */
  readonly refusal: Refusal | null;
  readonly bytes: number;
  /** Stopped after a part because the gateway is stopping. */
  readonly interrupted: boolean;
}

const cutOff = (p: PartReceiver, code: ErrorCode, message: string, reason: number): PartOutcome => ({
  ok: false,
  ...p.identity(),
  code,
  message,
  reason,
});

/** Reads the body part by part; each part is stored (or refused) before the next is read. */
export async function readBody(
  req: IncomingMessage,
  parser: MultipartParser,
  make: (headers: ReadonlyMap<string, string>) => PartReceiver,
  d: RequestDeps,
): Promise<BodyResult> {
  const results: PartOutcome[] = [];
  let part: PartReceiver | null = null;
  let bytes = 0;
  let parts = 0;
  const failPart = async (
    code: ErrorCode,
    message: string,
    reason: number = FailureReason.CannotUnderstand,
  ): Promise<void> => {
    if (!part) {
      return;
    }
    const p = part;
    part = null;
    await p.abort();
    results.push(cutOff(p, code, message, reason));
  };
  // The request as a whole is refused (the instances already stored stay, answered as such).
  const refused = (status: number, message: string): BodyResult => ({
    results,
    aborted: false,
    bytes,
    interrupted: false,
    refusal: { status, code: StowErrorCode.STOW_REQUEST_INVALID, message },
  });
  // Iterated by hand: leaving a for-await loop early would destroy the request, and with it the
  // socket the answer (413, 503) still has to go out on.
  const chunks = (req as AsyncIterable<Buffer>)[Symbol.asyncIterator]();
  // The idle timeout is the client's silence; while we fsync, validate or commit, the client waits
  // for us and must not be cut off (a multi-GB part takes a while to fsync on a slow disk).
  const ours = async <T>(work: Promise<T>): Promise<T> => {
    req.socket.setTimeout(0);
    try {
      return await work;
    } finally {
      req.socket.setTimeout(d.idleTimeoutMs);
    }
  };
  try {
    for (let next = await chunks.next(); next.done !== true; next = await chunks.next()) {
      const chunk = next.value;
      bytes += chunk.length;
      if (bytes > d.maxRequestBytes) {
        await failPart(
          StowErrorCode.STOW_REQUEST_INVALID,
          'The body exceeds stow.maxRequestBytes.',
          FailureReason.OutOfResources,
        );
        return refused(
          413,
          `The body exceeds stow.maxRequestBytes (${String(d.maxRequestBytes)}); instances before the cut were kept (listed at debug level) and are recognised as duplicates when sent again.`,
        );
      }
      for (const e of parser.push(chunk)) {
        if (e.kind === 'part') {
          parts++;
          part = make(e.headers);
        } else if (e.kind === 'data') {
          if (part && !part.write(e.data)) {
            await ours(part.drained());
          }
        } else if (part) {
          const p = part;
          part = null;
          results.push(await ours(p.finish()));
          if (d.stopping()) {
            return { results, aborted: false, bytes, interrupted: true, refusal: null };
          }
        }
      }
    }
    if (req.readableAborted || (!req.complete && !parser.done)) {
      await failPart(StowErrorCode.STOW_PART_INVALID, 'The client went away.');
      return { results, aborted: true, bytes, interrupted: false, refusal: null };
    }
    parser.end();
  } catch (err) {
    if (!(err instanceof MultipartError)) {
      // The connection failed (reset, timeout): the part in progress is dropped, nobody to answer.
      await failPart(StowErrorCode.STOW_PART_INVALID, describeError(err));
      d.log.debug({ err }, 'A STOW-RS request body was cut off.');
      return { results, aborted: true, bytes, interrupted: false, refusal: null };
    }
    if (parts === 0) {
      return refused(400, `The multipart body cannot be read: ${err.message}`);
    }
    await failPart(StowErrorCode.STOW_PART_INVALID, `The part was cut short: ${err.message}`);
  }
  if (parts === 0) {
    return refused(400, 'The multipart body holds no part.');
  }
  return { results, aborted: false, bytes, interrupted: false, refusal: null };
}
