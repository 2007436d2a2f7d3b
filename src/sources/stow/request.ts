//! One STOW-RS request: checks before the body, its parts stored one by one, then the answer; the request is one association.
// A request is one association in the series bookkeeping (sender = the token's name, peer IP):
// its series stay 'receiving' until it is answered. Every instance is answered Success only after
// its fsync + commit (part.ts → Intake); the answer is sent once every part has been settled.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { readBody, type BodyResult } from './body.ts';
import { createMultipartParser } from './multipart.ts';
import { receivePart } from './part.ts';
import { peerOf, precheck } from './precheck.ts';
import { RETRY_AFTER_S, sendRefusal } from './refusal.ts';
import type { RequestDeps } from './request-deps.ts';
import { encodeResponse, statusFor } from './response.ts';

/** Handles one request to the end; never rejects (failures are answered or logged). */
export async function handleRequest(
  req: IncomingMessage,
  res: ServerResponse,
  d: RequestDeps,
  expectContinue: boolean,
): Promise<void> {
  const peerIp = peerOf(req);
  const started = d.clock.now();
  const pre = await precheck(req, d);
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
  const associationUid = await d.intake.openAssociation({
    source: 'stow',
    sender: pre.sender,
    peerIp,
    reportsEvents: true,
  });
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
