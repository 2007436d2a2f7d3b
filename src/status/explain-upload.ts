//! The one way an uploaded file is explained (POST /explain and the console's explain form).
// An upload may be gigabytes, unpacked again if it is a zip, so both doors share one guard: one
// upload at a time (429 for the others), space reserved above spool.minFreeBytes before the first
// byte is written and grown as it arrives (507 when it cannot fit), http.explainMaxBytes enforced
// while streaming (413), and the private folder removed whatever happens.
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyReply } from 'fastify';
import type { SpaceReservation } from '../spool/types.ts';
import type { ExplainResult, RoutingView } from './routes/routing.ts';

/** An upload refused before it was explained; `statusCode` is the HTTP answer (413, 429, 507). */
type UploadRefusal = Error & { readonly statusCode: number };

const refusal = (statusCode: number, message: string): UploadRefusal => Object.assign(new Error(message), { statusCode });

const noSpace = (): UploadRefusal => refusal(507, 'Not enough free space above spool.minFreeBytes for this upload now; try again later.');

export interface ExplainGate {
  /**
   * Streams `body` to a private folder under the routing view's upload folder and explains it;
   * paths in `skipped` are relative to the upload. Rejects with an UploadRefusal while another
   * upload is being explained (429), past http.explainMaxBytes (413) or without space (507).
   * `declaredBytes` (the request's Content-Length, 0 if unknown) is reserved before writing.
   */
  explain(body: Readable, o: { declaredBytes: number; signal: AbortSignal }): Promise<ExplainResult>;
}

/**
 * Counts bytes and fails the stream past `max`, and takes each chunk's space before it is written
 * (an upload without Content-Length grows its reservation as it arrives), so an upload never fills the disk.
 */
function limit(max: number, space: SpaceReservation | null, declared: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done: TransformCallback) {
      seen += chunk.length;
      if (seen > max) {done(refusal(413, `The upload is larger than http.explainMaxBytes (${String(max)} bytes).`));}
      else if (space && seen > declared && !space.take(chunk.length)) {done(noSpace());}
      else {done(null, chunk);}
    },
  });
}

/** Built once per status server, so every door to explain shares its one-at-a-time slot. */
export function createExplainGate(routing: RoutingView): ExplainGate {
  let uploading = false;
  return {
    async explain(body, o) {
      if (uploading) {throw refusal(429, 'Another upload is being explained; explain takes one at a time. Try again when it has finished.');}
      uploading = true;
      const declared = Math.min(o.declaredBytes, routing.explainMaxBytes);
      const space = routing.reserveUpload ? routing.reserveUpload(declared) : null;
      const dir = join(routing.uploadDir, `explain-${randomUUID()}`);
      try {
        if (routing.reserveUpload && !space) {throw noSpace();}
        await mkdir(dir, { recursive: true, mode: 0o700 });
        const file = join(dir, 'upload');
        await pipeline(body, limit(routing.explainMaxBytes, space, declared), createWriteStream(file, { mode: 0o600 }));
        // Written: the file holds its blocks now; the zip's expansion reserves its own (explain.ts).
        space?.release();
        const result = await routing.explainUpload(file, o.signal);
        return { series: result.series, skipped: result.skipped.map((k) => ({ path: k.path.startsWith(dir) ? k.path.slice(dir.length + 1) : k.path, reason: k.reason })) };
      } finally {
        space?.release();
        await rm(dir, { recursive: true, force: true });
        uploading = false;
      }
    },
  };
}

/** Aborts when the client goes away before its answer was sent (the explanation is then wasted work). */
export function abortOnDisconnect(reply: FastifyReply): AbortSignal {
  const controller = new AbortController();
  reply.raw.once('close', () => { if (!reply.raw.writableFinished) {controller.abort();} });
  return controller.signal;
}
