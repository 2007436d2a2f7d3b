//! One STOW-RS request: checks before the body (auth, types, size, room), then its parts stored one by one, then the answer.
// A request is one association in the series bookkeeping (sender = the token's name, peer IP):
// its series stay 'receiving' until it is answered. Every instance is answered Success only after
// its fsync + commit (part.ts → Intake); the answer is sent once every part has been settled.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, describeError } from '../../errors.ts';
import type { ComponentContext } from '../../contracts/component.ts';
import type { Intake } from '../../contracts/source.ts';
import { FailureReason } from './failure.ts';
import { negotiate, parseMediaType } from './media-type.ts';
import { createMultipartParser, isValidBoundary, MultipartError, type MultipartParser } from './multipart.ts';
import { receivePart, type PartOutcome, type PartReceiver } from './part.ts';
import { encodeResponse, RESPONSE_TYPES, statusFor, type ResponseType } from './response.ts';
import { LOCK_MS, type Lockout } from './lockout.ts';
import type { TokenStore } from './tokens.ts';
import { StowErrorCode } from './errors.ts';

const PATH = /^\/dicom-web\/studies(?:\/([^/?#]+))?\/?$/;
/** A UID (PS3.5 §9.1): digits and dots, at most 64 characters. */
const UID = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*$/;
const RETRY_AFTER_S = '30';

export interface RequestDeps extends ComponentContext {
  readonly intake: Intake;
  readonly tokens: TokenStore;
  readonly lockout: Lockout;
  readonly maxRequestBytes: number;
  /** The socket's idle timeout, suspended while the gateway itself is busy (storing a part). */
  readonly idleTimeoutMs: number;
  /** True once the source is stopping: the request ends after its current part. */
  readonly stopping: () => boolean;
}

/** A problem answered before the body is read (or instead of reading the rest of it). */
interface Refusal {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly headers?: Record<string, string>;
}

export function peerOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** Sends a refusal as JSON and closes the connection, so an unread body is not read for nothing. */
export function sendRefusal(res: ServerResponse, r: Refusal): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(r.status, { 'Content-Type': 'application/json', Connection: 'close', ...r.headers });
  res.end(JSON.stringify({ error: r.code, message: r.message }));
}

/** The checks PS3.18 §10.5 asks before the payload; a Refusal or what the request targets. */
export function precheck(
  req: IncomingMessage,
  d: RequestDeps,
): Refusal | { sender: string; studyUid: string | null; boundary: string; answer: ResponseType } {
  const url = (req.url ?? '').split('?')[0] ?? '';
  const m = PATH.exec(url);
  if (!m) {
    return {
      status: 404,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'Not found: this receiver serves POST /dicom-web/studies and /dicom-web/studies/{StudyInstanceUID}.',
    };
  }
  if (req.method !== 'POST') {
    return {
      status: 405,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'Only POST (Store Instances) is served here.',
      headers: { Allow: 'POST' },
    };
  }
  const peerIp = peerOf(req);
  const locked = d.lockout.lockedFor(peerIp);
  if (locked > 0) {
    return {
      status: 429,
      code: StowErrorCode.STOW_UNAUTHORISED,
      message: 'Too many wrong tokens from this address; try again later.',
      headers: { 'Retry-After': String(Math.ceil(locked / 1000)) },
    };
  }
  const auth = d.tokens.check(req.headers.authorization);
  if (auth.ok) {
    d.lockout.succeeded(peerIp);
  } else if (auth.status === 403 && d.lockout.failed(peerIp)) {
    d.log.warn(
      { peerIp, code: StowErrorCode.STOW_UNAUTHORISED, lockMs: LOCK_MS },
      'Too many wrong STOW-RS tokens from one address; it is refused for a while.',
    );
  }
  if (!auth.ok) {
    const headers: Record<string, string> =
      auth.status === 401
        ? { 'WWW-Authenticate': 'Bearer realm="xnat-gateway STOW-RS"' }
        : auth.status === 503
          ? { 'Retry-After': RETRY_AFTER_S }
          : {};
    return {
      status: auth.status,
      code: auth.status === 503 ? StowErrorCode.STOW_TOKENS : StowErrorCode.STOW_UNAUTHORISED,
      message: auth.message,
      headers,
    };
  }
  // Not percent-decoded: a UID is digits and dots, so anything encoded is not one.
  const studyUid = m[1] ?? null;
  if (studyUid !== null && (studyUid.length > 64 || !UID.test(studyUid))) {
    return {
      status: 400,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'The StudyInstanceUID in the path is not a valid UID.',
    };
  }
  const answer = negotiate(req.headers.accept, RESPONSE_TYPES) as ResponseType | null;
  if (answer === null) {
    return {
      status: 406,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: `The response can be ${RESPONSE_TYPES.join(', ')}; the Accept header allows none of them.`,
    };
  }
  const type = parseMediaType(req.headers['content-type']);
  const related = type?.params.get('type')?.toLowerCase();
  if (type?.essence !== 'multipart/related' || (related !== undefined && related !== 'application/dicom')) {
    return {
      status: 415,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'The body must be multipart/related; type="application/dicom" (DICOM PS3.10 files).',
    };
  }
  const boundary = type.params.get('boundary');
  if (!boundary) {
    return {
      status: 400,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'The multipart/related Content-Type has no boundary parameter.',
    };
  }
  if (!isValidBoundary(boundary)) {
    return {
      status: 400,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: 'The boundary parameter is not a valid multipart boundary (RFC 2046 characters, at most 200).',
    };
  }
  const length = req.headers['content-length'];
  if (length !== undefined && Number(length) > d.maxRequestBytes) {
    return {
      status: 413,
      code: StowErrorCode.STOW_REQUEST_INVALID,
      message: `The body (${length} bytes) exceeds stow.maxRequestBytes (${String(d.maxRequestBytes)}).`,
    };
  }
  const admission = d.intake.admission();
  if (!admission.ok) {
    return { status: 503, code: admission.code, message: admission.message, headers: { 'Retry-After': RETRY_AFTER_S } };
  }
  return { sender: auth.name, studyUid, boundary, answer };
}

/** What became of the body: parts settled, and why reading stopped early, if it did. */
interface BodyResult {
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
        return {
          results,
          aborted: false,
          bytes,
          interrupted: false,
          refusal: {
            status: 413,
            code: StowErrorCode.STOW_REQUEST_INVALID,
            message: `The body exceeds stow.maxRequestBytes (${String(d.maxRequestBytes)}); instances before the cut were kept (listed at debug level) and are recognised as duplicates when sent again.`,
          },
        };
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
      return {
        results,
        aborted: false,
        bytes,
        interrupted: false,
        refusal: {
          status: 400,
          code: StowErrorCode.STOW_REQUEST_INVALID,
          message: `The multipart body cannot be read: ${err.message}`,
        },
      };
    }
    await failPart(StowErrorCode.STOW_PART_INVALID, `The part was cut short: ${err.message}`);
  }
  if (parts === 0) {
    return {
      results,
      aborted: false,
      bytes,
      interrupted: false,
      refusal: { status: 400, code: StowErrorCode.STOW_REQUEST_INVALID, message: 'The multipart body holds no part.' },
    };
  }
  return { results, aborted: false, bytes, interrupted: false, refusal: null };
}

/** Handles one request to the end; never rejects (failures are answered or logged). */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  d: RequestDeps,
  expectContinue: boolean,
): Promise<void> {
  const peerIp = peerOf(req);
  const started = d.clock.now();
  const pre = precheck(req, d);
  if ('status' in pre) {
    const line = { peerIp, status: pre.status, code: pre.code, reason: pre.message };
    if (pre.status === 401 || pre.status === 403 || pre.status >= 500) {
      d.log.warn(line, 'STOW-RS request refused.');
    } else {
      d.log.info(line, 'STOW-RS request refused.');
    }
    sendRefusal(res, pre);
    return;
  }
  if (expectContinue) {
    res.writeContinue();
  }
  const associationUid = d.intake.openAssociation({ source: 'stow', sender: pre.sender, peerIp, reportsEvents: true });
  d.events.emit('association.opened', { source: 'stow', associationUid, peerIp, callingAe: pre.sender, calledAe: '' });
  let closed = false;
  let body: BodyResult | null = null;
  /** Closes the association (once): before the answer goes out, so a sender holding it finds the bookkeeping done. */
  const close = (outcome: 'released' | 'aborted'): void => {
    if (closed) {
      return;
    }
    closed = true;
    const stored = body?.results.filter((r) => r.ok).length ?? 0;
    d.intake.closeAssociation(associationUid, outcome);
    d.events.emit('association.closed', {
      source: 'stow',
      associationUid,
      instances: stored,
      bytes: body?.bytes ?? 0,
      durationMs: d.clock.now() - started,
      outcome,
    });
    d.log.info(
      {
        peerIp,
        sender: pre.sender,
        stored,
        failed: (body?.results.length ?? 0) - stored,
        bytes: body?.bytes ?? 0,
        durationMs: d.clock.now() - started,
        outcome,
      },
      'STOW-RS request finished.',
    );
  };
  try {
    const ctx = { intake: d.intake, associationUid, sender: pre.sender, peerIp, studyUid: pre.studyUid };
    body = await readBody(req, createMultipartParser(pre.boundary), (headers) => receivePart(headers, ctx), d);
    for (const r of body.results) {
      if (r.ok) {
        continue;
      }
      d.events.emit('instance.failed', { source: 'stow', code: r.code });
      d.log.warn(
        {
          peerIp,
          sender: pre.sender,
          code: r.code,
          failureReason: `0x${r.reason.toString(16).padStart(4, '0')}`,
          reason: r.message,
        },
        'STOW-RS instance refused.',
      );
      d.log.debug(
        { sopInstanceUid: r.sopInstanceUid, sopClassUid: r.sopClassUid },
        'STOW-RS instance refused (identity).',
      );
    }
    if (body.aborted) {
      return;
    }
    close('released');
    if (body.refusal) {
      sendRefusal(res, body.refusal);
    } else {
      const status = body.interrupted ? 503 : statusFor(body.results);
      res.writeHead(status, {
        'Content-Type': `${pre.answer}${pre.answer === 'application/dicom+xml' ? '; charset=utf-8' : ''}`,
        ...(status === 503 ? { 'Retry-After': RETRY_AFTER_S } : {}),
        // What is left of a body we stopped reading must not be taken for the next request.
        ...(status === 503 || !req.complete ? { Connection: 'close' } : {}),
      });
      res.end(encodeResponse(body.results, pre.answer));
    }
  } finally {
    close('aborted');
  }
}
