//! Users, alias tokens and JSESSIONID sessions: XNAT's Basic / alias / cookie authentication and CSRF rule.
import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/** Who made a request and how. */
export interface Identity {
  readonly user: string;
  readonly auth: 'basic' | 'alias' | 'session';
  /** The JSESSIONID the request rode on (auth 'session'). */
  readonly sessionId?: string;
}

interface Token {
  readonly user: string;
  readonly secret: string;
  readonly expiresAt: number;
}
interface Session {
  readonly user: string;
  lastUsedAt: number;
  readonly csrf: string;
}

/** Alias tokens live two days (XNAT's default `aliasTokenTimeout`). */
const TOKEN_TTL_MS = 2 * 24 * 3600 * 1000;

export interface Auth {
  readonly users: Map<string, string>;
  /** Basic user:password or alias:secret, else a live JSESSIONID cookie; null when neither. */
  identify(req: IncomingMessage): Identity | null;
  issueToken(user: string): { alias: string; secret: string; expiresAt: number };
  /** The token's user when alias and secret match a live token. */
  validateToken(alias: string, secret: string): string | null;
  invalidateToken(alias: string, secret: string): boolean;
  /** A new web session (POST /data/JSESSION). */
  openSession(user: string): string;
  closeSession(id: string): void;
  csrfToken(sessionId: string): string | null;
  expireSessions(): void;
}

function cookie(req: IncomingMessage, name: string): string | undefined {
  for (const part of (req.headers.cookie ?? '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) {
      return v.join('=');
    }
  }
  return undefined;
}

function basic(req: IncomingMessage): { name: string; secret: string } | null {
  const m = /^Basic\s+(\S+)$/i.exec(req.headers.authorization ?? '');
  if (!m?.[1]) {
    return null;
  }
  const decoded = Buffer.from(m[1], 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  return i < 0 ? null : { name: decoded.slice(0, i), secret: decoded.slice(i + 1) };
}

export function createAuth(users: Record<string, string>, sessionTtlMs: number, now: () => number): Auth {
  const passwords = new Map(Object.entries(users));
  const tokens = new Map<string, Token>();
  const sessions = new Map<string, Session>();
  const liveSession = (id: string | undefined): Session | null => {
    const s = id === undefined ? undefined : sessions.get(id);
    if (!s || id === undefined) {
      return null;
    }
    // Tomcat's session timeout counts inactivity: every use extends the session.
    if (now() - s.lastUsedAt > sessionTtlMs) {
      sessions.delete(id);
      return null;
    }
    s.lastUsedAt = now();
    return s;
  };
  const validateToken = (alias: string, secret: string): string | null => {
    const t = tokens.get(alias);
    return t && t.secret === secret && t.expiresAt > now() ? t.user : null;
  };
  return {
    users: passwords,
    identify(req) {
      // XnatSecureGuard: a Basic header wins over the cookie; the user name may be an alias token.
      const b = basic(req);
      if (b) {
        if (passwords.has(b.name)) {
          return passwords.get(b.name) === b.secret ? { user: b.name, auth: 'basic' } : null;
        }
        const user = validateToken(b.name, b.secret);
        return user === null ? null : { user, auth: 'alias' };
      }
      const id = cookie(req, 'JSESSIONID');
      const s = liveSession(id);
      return s && id !== undefined ? { user: s.user, auth: 'session', sessionId: id } : null;
    },
    issueToken(user) {
      const alias = randomUUID();
      const secret = randomBytes(32).toString('base64url');
      const expiresAt = now() + TOKEN_TTL_MS;
      tokens.set(alias, { user, secret, expiresAt });
      return { alias, secret, expiresAt };
    },
    validateToken,
    invalidateToken(alias, secret) {
      return validateToken(alias, secret) !== null && tokens.delete(alias);
    },
    openSession(user) {
      const id = randomBytes(16).toString('hex').toUpperCase();
      sessions.set(id, { user, lastUsedAt: now(), csrf: randomUUID() });
      return id;
    },
    closeSession(id) {
      sessions.delete(id);
    },
    csrfToken(id) {
      return sessions.get(id)?.csrf ?? null;
    },
    expireSessions() {
      sessions.clear();
    },
  };
}

/**
 * SecureAction.isCsrfTokenOk(strict=false): only a request riding on a web session from a
 * browser-like User-Agent (not XNATDesktopClient, not containing JAVA) must carry XNAT_CSRF on
 * POST/PUT/DELETE. Returns the 403 text, or null when the request passes.
 */
export function csrfProblem(
  req: IncomingMessage,
  who: Identity,
  query: Record<string, string>,
  expected: string | null,
): string | null {
  const ua = req.headers['user-agent'] ?? '';
  const browser = /Mozilla\//.test(ua) && !/XNATDesktopClient/.test(ua) && !/JAVA/i.test(ua);
  if (who.auth !== 'session' || !browser || !['POST', 'PUT', 'DELETE'].includes(req.method ?? '')) {
    return null;
  }
  const token = query.XNAT_CSRF;
  if (token === undefined || token === '') {
    return 'INVALID CSRF (no token)';
  }
  return token === expected ? null : 'INVALID CSRF (token mismatch)';
}
