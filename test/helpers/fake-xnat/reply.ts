//! What every route handler shares: the context it works on and the replies it returns.
import type { Auth, Identity } from './auth.ts';
import type { Model } from './model.ts';

export interface Ctx {
  readonly model: Model;
  readonly auth: Auth;
  /** Temp dir for spooled bodies; removed on close. */
  readonly tmpDir: string;
  readonly now: () => number;
}

/** One request as the handlers see it (the body is still unread on `req`). */
export interface Call {
  readonly method: string;
  /** Path with `/REST` turned into `/data` and no trailing slash. */
  readonly path: string;
  readonly query: Record<string, string>;
  readonly who: Identity;
  readonly contentType: string | null;
  /** Body bytes read so far (for the request log). */
  readonly meter: { bytes: number };
}

export interface Reply {
  readonly status: number;
  readonly body: string;
  readonly contentType?: string;
  readonly headers?: Record<string, string | string[]>;
}

export function text(status: number, body: string, contentType = 'text/plain'): Reply {
  return { status, body, contentType: `${contentType};charset=UTF-8` };
}

export function json(value: unknown, status = 200): Reply {
  return { status, body: JSON.stringify(value), contentType: 'application/json;charset=UTF-8' };
}

/** XNAT's table representation: every value a string, totalRecords too. */
export function resultSet(rows: readonly Record<string, unknown>[]): Reply {
  const Result = rows.map((r) =>
    Object.fromEntries(
      Object.entries(r).map(([k, v]) => [
        k,
        v === null || v === undefined ? '' : String(v as string | number | boolean),
      ]),
    ),
  );
  return json({ ResultSet: { Result, totalRecords: String(Result.length) } });
}

/** `text/uri-list`: one CRLF-terminated line per URI (RFC 2483). */
export function uriList(uris: readonly string[], status = 200): Reply {
  return { status, body: uris.map((u) => `${u}\r\n`).join(''), contentType: 'text/uri-list;charset=UTF-8' };
}

export const notFound = (what = 'Not Found'): Reply => text(404, what);
