//! XNAT's answer to an import → what the delivery job does next.
// CTP counted any HTTP 200 as success (its issue #9: wrong credentials looked like success);
// here only a 200 whose body is a session URI is, and XNAT's own words are kept for everything else.
import type { HttpResponse } from '../../xnat/http.ts';

export type UploadOutcome =
  | { readonly kind: 'ok'; readonly uris: readonly string[] }
  /** The archive already holds these very files: a re-send of something delivered before. */
  | { readonly kind: 'present'; readonly message: string }
  | { readonly kind: 'conflict'; readonly message: string }
  | { readonly kind: 'auth'; readonly message: string }
  | { readonly kind: 'rejected'; readonly message: string }
  | { readonly kind: 'retry'; readonly message: string; readonly afterMs?: number };

const SESSION_URI = /^\/data\/(?:prearchive|archive)\/projects\/[^\s]+$/;
const MAX_MESSAGE = 500;

/** XNAT's message without HTML (Tomcat wraps errors in an error page), one line, capped. */
export function messageOf(res: HttpResponse): string {
  const text = res.text
    .replace(/<(script|style|title)[\s\S]*?<\/\1>/gi, ' ')
    .replace(/<[^>]+>/g, ' ')
    .replace(/&nbsp;/g, ' ')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&quot;/g, '"')
    .replace(/&amp;/g, '&')
    .replace(/\s+/g, ' ')
    .trim();
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text || '(empty body)';
}

function retryAfterMs(res: HttpResponse): number | undefined {
  const h = res.headers['retry-after'];
  const s = typeof h === 'string' ? Number(h) : NaN;
  return Number.isFinite(s) && s >= 0 ? Math.min(s * 1000, 3_600_000) : undefined;
}

export function classifyImport(res: HttpResponse): UploadOutcome {
  const message = messageOf(res);
  const status = res.status;
  if (status === 200) {
    const lines = res.text
      .split(/\r?\n/)
      .map((l) => l.trim())
      .filter(Boolean);
    if (lines.length && lines.every((l) => SESSION_URI.test(l))) {
      return { kind: 'ok', uris: lines };
    }
    return {
      kind: 'rejected',
      message: `HTTP 200 but the body is not a session URI (${res.contentType || 'no content type'}): ${message}`,
    };
  }
  // Checked before the conflict texts: identical files mean an earlier delivery got there.
  if (/matching files/i.test(message)) {
    return { kind: 'present', message };
  }
  if (status === 409 || (status === 400 && /Failed to archive/i.test(message))) {
    return { kind: 'conflict', message };
  }
  if (status === 401 || status === 403) {
    return { kind: 'auth', message: `HTTP ${String(status)}: ${message}` };
  }
  // 423: another archive of the same session is running ("Duplicate archive attempt").
  if (status === 423 || status === 429 || status === 408) {
    const afterMs = retryAfterMs(res);
    return {
      kind: 'retry',
      message: `HTTP ${String(status)}: ${message}`,
      ...(afterMs === undefined ? {} : { afterMs }),
    };
  }
  if (status >= 500) {
    // XNAT reports a duplicate archive of matching files as a 500 on some versions.
    if (/Session already exists/i.test(message)) {
      return { kind: 'conflict', message };
    }
    const afterMs = retryAfterMs(res);
    return {
      kind: 'retry',
      message: `HTTP ${String(status)}: ${message}`,
      ...(afterMs === undefined ? {} : { afterMs }),
    };
  }
  return { kind: 'rejected', message: `HTTP ${String(status)}: ${message}` };
}
