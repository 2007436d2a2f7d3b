//! The checks PS3.18 asks of a STOW-RS request before its body: path, method, lockout, token, Accept, Content-Type, size, room.
import type { IncomingMessage } from 'node:http';
import { negotiate, parseMediaType } from './media-type.ts';
import { isValidBoundary } from './multipart.ts';
import { RESPONSE_TYPES, type ResponseType } from './response.ts';
import { LOCK_MS } from './lockout.ts';
import { StowErrorCode } from './errors.ts';
import { RETRY_AFTER_S, type Refusal } from './refusal.ts';
import type { RequestDeps } from './request-deps.ts';

const PATH = /^\/dicom-web\/studies(?:\/([^/?#]+))?\/?$/;
/** A UID (PS3.5 §9.1): digits and dots, at most 64 characters. */
const UID = /^(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*$/;

/** The sender's address as written in logs and the lockout (an IPv4-mapped IPv6 address as IPv4). */
export function peerOf(req: IncomingMessage): string {
  const a = req.socket.remoteAddress ?? '';
  return a.startsWith('::ffff:') && a.includes('.') ? a.slice(7) : a;
}

/** The checks PS3.18 §10.5 asks before the payload; a Refusal or what the request targets. */
export async function precheck(
  req: IncomingMessage,
  d: RequestDeps,
): Promise<Refusal | { sender: string; studyUid: string | null; boundary: string; answer: ResponseType }> {
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
  const admission = await d.intake.admission();
  if (!admission.ok) {
    return { status: 503, code: admission.code, message: admission.message, headers: { 'Retry-After': RETRY_AFTER_S } };
  }
  return { sender: auth.name, studyUid, boundary, answer };
}
