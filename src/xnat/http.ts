//! One HTTP exchange with XNAT over node:http(s): streamed request body, capped response text.
// Not fetch: an upload body is a stream that must honour backpressure and be abandoned cleanly
// when XNAT resets the connection, and the error codes (ECONNRESET, ETIMEDOUT) decide retries.
import { request as httpRequest, Agent as HttpAgent, type IncomingMessage } from 'node:http';
import { request as httpsRequest, Agent as HttpsAgent } from 'node:https';
import type { Readable } from 'node:stream';

/** Response bodies are read up to this size: XNAT's answers are URIs, JSON listings and messages. */
const MAX_BODY = 4 * 1024 * 1024;

export interface HttpResponse {
  readonly status: number;
  readonly contentType: string;
  readonly headers: IncomingMessage['headers'];
  readonly text: string;
}

export interface HttpRequest {
  readonly method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly url: URL;
  readonly headers?: Record<string, string>;
  /** A fresh body stream for this attempt (an upload may be sent twice after a re-login). */
  readonly body?: () => Readable;
  /** No byte moving in either direction for this long ends the exchange (ms). */
  readonly idleTimeoutMs: number;
  readonly signal?: AbortSignal;
}

/** A failure below HTTP: refused, reset, timed out, aborted. `code` is the errno-style code. */
export class HttpNetworkError extends Error {
  override readonly name = 'HttpNetworkError';
  readonly code: string;
  constructor(code: string, message: string, cause?: unknown) {
    super(message, { cause });
    this.code = code;
  }
}

const agents = {
  http: new HttpAgent({ keepAlive: true, maxSockets: 8 }),
  https: new HttpsAgent({ keepAlive: true, maxSockets: 8 }),
};

/** Sends one request; resolves with any HTTP status, rejects only with HttpNetworkError. */
export function send(r: HttpRequest): Promise<HttpResponse> {
  return new Promise((resolve, reject) => {
    if (r.signal?.aborted) {
      reject(new HttpNetworkError('ABORT_ERR', 'Request aborted.'));
      return;
    }
    const secure = r.url.protocol === 'https:';
    const req = (secure ? httpsRequest : httpRequest)(r.url, {
      method: r.method,
      headers: { 'user-agent': 'xnat-gateway', accept: '*/*', ...r.headers },
      agent: secure ? agents.https : agents.http,
    });
    let settled = false;
    let body: Readable | null = null;
    const fail = (code: string, message: string, cause?: unknown): void => {
      if (settled) {
        return;
      }
      settled = true;
      r.signal?.removeEventListener('abort', onAbort);
      req.destroy();
      body?.destroy();
      reject(new HttpNetworkError(code, message, cause));
    };
    const onAbort = (): void => {
      fail('ABORT_ERR', 'Request aborted.');
    };
    r.signal?.addEventListener('abort', onAbort, { once: true });
    req.setTimeout(r.idleTimeoutMs, () => {
      fail('ETIMEDOUT', `No response for ${String(r.idleTimeoutMs)} ms.`);
    });
    req.on('error', (err: NodeJS.ErrnoException) => {
      fail(err.code ?? 'ECONNRESET', err.message, err);
    });
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size <= MAX_BODY) {
          chunks.push(c);
        }
      });
      res.on('error', (err: NodeJS.ErrnoException) => {
        fail(err.code ?? 'ECONNRESET', err.message, err);
      });
      res.on('end', () => {
        if (settled) {
          return;
        }
        settled = true;
        r.signal?.removeEventListener('abort', onAbort);
        // XNAT may answer (401, 413) before it has read the whole upload: stop reading the files.
        body?.destroy();
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          contentType: (res.headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '',
          text: Buffer.concat(chunks).toString('utf8'),
        });
      });
    });
    if (!r.body) {
      req.end();
      return;
    }
    body = r.body();
    body.on('error', (err) => {
      fail('EBODY', `Reading the upload failed: ${err.message}`, err);
    });
    // pipe() honours backpressure: a slow XNAT slows the zip writer, nothing piles up in memory.
    body.pipe(req);
  });
}
