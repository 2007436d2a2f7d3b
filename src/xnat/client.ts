//! An authenticated XNAT REST client: one JSESSION reused across calls, one re-login when it expires.
// Basic auth on every call creates a Tomcat session each time ("too many can overwhelm your Tomcat
// instance", XNAT docs), so we log in once with POST /data/JSESSION and send the cookie. An alias
// token is used the same way (alias as user, secret as password).
import { readFile, stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import type { Logger } from '../log.ts';
import type { XnatAccess } from './config.ts';
import { HttpNetworkError, send, type HttpResponse } from './http.ts';

/** XNAT refused our credentials, even after a fresh login. */
export class XnatAuthError extends Error {
  override readonly name = 'XnatAuthError';
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

export interface CallOptions {
  readonly method?: 'GET' | 'POST' | 'PUT' | 'DELETE';
  readonly query?: Record<string, string>;
  readonly body?: () => Readable;
  readonly contentType?: string;
  /** Default: the access's requestTimeoutMs. */
  readonly idleTimeoutMs?: number;
}

export type ProjectCheck = { readonly ok: true } | { readonly ok: false; readonly message: string };

export interface XnatClient {
  /** The base URL without credentials, for messages and receipts. */
  readonly origin: string;
  /** One call with the session cookie; re-logs in once on 401/403. Rejects with XnatAuthError or HttpNetworkError. */
  call(path: string, signal: AbortSignal, o?: CallOptions): Promise<HttpResponse>;
  /** GET `path?format=json` and parse; null on 404. Throws on other non-200 answers. */
  json(path: string, signal: AbortSignal, query?: Record<string, string>): Promise<unknown>;
  /** Logs in afresh (healthcheck: are the credentials valid now?). */
  login(signal: AbortSignal): Promise<void>;
  /** Does `project` exist, and may our user add subjects and sessions to it? */
  checkProject(project: string, signal: AbortSignal): Promise<ProjectCheck>;
}

/** Rows of XNAT's `{"ResultSet":{"Result":[…]}}` listings (empty when the shape is different). */
export function resultRows(body: unknown): Record<string, unknown>[] {
  const rs = (body as { ResultSet?: { Result?: unknown } } | null)?.ResultSet?.Result;
  return Array.isArray(rs) ? rs.filter((r): r is Record<string, unknown> => typeof r === 'object' && r !== null) : [];
}

async function readSecret(a: XnatAccess, log: Logger): Promise<string> {
  if (a.passwordFile) {
    const st = await stat(a.passwordFile);
    // As for the admin token file: a secret others can read is refused, not merely warned about.
    if (st.mode & 0o077) {
      log.warn({ file: a.passwordFile }, 'The XNAT password file is readable by others; refusing it (chmod 600).');
      throw new XnatAuthError(
        0,
        `The XNAT password file ${a.passwordFile} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it.`,
      );
    }
    return (await readFile(a.passwordFile, 'utf8')).replace(/\r?\n$/, '');
  }
  if (a.passwordEnv) {
    return process.env[a.passwordEnv] ?? '';
  }
  return '';
}

export function createXnatClient(a: XnatAccess, log: Logger): XnatClient {
  const base = new URL(a.url.endsWith('/') ? a.url : `${a.url}/`);
  const origin = base.origin + base.pathname.replace(/\/$/, '');
  let session: string | null = null;
  let loggingIn: Promise<string> | null = null;

  const url = (path: string, query?: Record<string, string>): URL => {
    const u = new URL(path.replace(/^\//, ''), base);
    for (const [k, v] of Object.entries(query ?? {})) {
      u.searchParams.set(k, v);
    }
    return u;
  };

  async function freshSession(signal: AbortSignal): Promise<string> {
    const secret = await readSecret(a, log);
    const basic = Buffer.from(`${a.user}:${secret}`).toString('base64');
    const res = await send({
      method: 'POST',
      url: url('data/JSESSION'),
      headers: { authorization: `Basic ${basic}` },
      idleTimeoutMs: a.requestTimeoutMs,
      signal,
    });
    if (res.status === 401 || res.status === 403) {
      throw new XnatAuthError(
        res.status,
        `XNAT at ${origin} refused the credentials of user "${a.user}" (HTTP ${String(res.status)}).`,
      );
    }
    const cookie = /JSESSIONID=([^;]+)/.exec(String(res.headers['set-cookie'] ?? ''))?.[1];
    const id = cookie ?? res.text.trim();
    if (res.status !== 200 || !/^[A-Za-z0-9._-]{8,}$/.test(id)) {
      throw new HttpNetworkError(
        'EPROTO',
        `Logging in to XNAT at ${origin} gave HTTP ${String(res.status)} without a session id.`,
      );
    }
    log.debug({ origin }, 'Logged in to XNAT.');
    return id;
  }

  async function login(signal: AbortSignal): Promise<string> {
    // Concurrent jobs that all find the session expired share one login.
    loggingIn ??= freshSession(signal).finally(() => {
      loggingIn = null;
    });
    session = await loggingIn;
    return session;
  }

  async function call(path: string, signal: AbortSignal, o: CallOptions = {}): Promise<HttpResponse> {
    const go = (id: string): Promise<HttpResponse> =>
      send({
        method: o.method ?? 'GET',
        url: url(path, o.query),
        signal,
        idleTimeoutMs: o.idleTimeoutMs ?? a.requestTimeoutMs,
        headers: { cookie: `JSESSIONID=${id}`, ...(o.contentType ? { 'content-type': o.contentType } : {}) },
        ...(o.body ? { body: o.body } : {}),
      });
    const first = session ?? (await login(signal));
    const res = await go(first);
    if (res.status !== 401 && res.status !== 403) {
      return res;
    }
    // The session may have expired (XNAT's default is 15 minutes): log in again, once.
    if (session === first) {
      session = null;
    }
    const again = await go(session ?? (await login(signal)));
    if (again.status === 401) {
      session = null;
      throw new XnatAuthError(401, `XNAT at ${origin} refused user "${a.user}" after a fresh login (HTTP 401).`);
    }
    return again;
  }

  async function json(path: string, signal: AbortSignal, query: Record<string, string> = {}): Promise<unknown> {
    const res = await call(path, signal, { query: { format: 'json', ...query } });
    if (res.status === 404) {
      return null;
    }
    if (res.status !== 200) {
      throw new HttpNetworkError(`HTTP_${String(res.status)}`, `GET ${path} gave HTTP ${String(res.status)}.`);
    }
    try {
      return JSON.parse(res.text) as unknown;
    } catch (err) {
      throw new HttpNetworkError(
        'EPROTO',
        `GET ${path} did not return JSON (${res.contentType || 'no content type'}).`,
        err,
      );
    }
  }

  return {
    origin,
    call,
    json,
    async login(signal) {
      session = null;
      await login(signal);
    },
    async checkProject(project, signal) {
      const p = encodeURIComponent(project);
      // XNAT answers 404 both for a missing project and for one the user may not see.
      if ((await json(`data/projects/${p}`, signal)) === null) {
        return {
          ok: false,
          message: `Project ${project} does not exist in XNAT at ${origin}, or user "${a.user}" cannot see it.`,
        };
      }
      const writable = resultRows(
        await json('data/projects', signal, { permissions: 'edit', dataType: 'xnat:subjectData' }),
      );
      if (!writable.some((r) => r.ID === project)) {
        return {
          ok: false,
          message: `User "${a.user}" may not add data to project ${project} in XNAT at ${origin}; make it a member or owner.`,
        };
      }
      return { ok: true };
    },
  };
}
