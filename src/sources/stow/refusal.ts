//! A STOW-RS request refused as a whole: a JSON error body, and the connection closed so an unread body is not read for nothing.
import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '../../errors.ts';

/** Retry-After (seconds) of every 503: no room, the token file unreadable, or the gateway stopping. */
export const RETRY_AFTER_S = '30';

/** A problem answered before the body is read (or instead of reading the rest of it). */
export interface Refusal {
  readonly status: number;
  readonly code: ErrorCode;
  readonly message: string;
  readonly headers?: Record<string, string>;
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
