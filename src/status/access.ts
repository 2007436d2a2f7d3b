//! Who is asking, and may they read: the session cookie or a bearer token, and http.auth.
// http.auth 'actions' (default): reading is open to whoever reaches the port, as before the console;
// 'all': reading needs a signed-in session or a bearer token too. Probes and scrapes (/healthz…,
// /readyz, /metrics), the console's static assets and its sign-in page are always open. Actions
// (release, requeue, find) check the viewer themselves: an administrator, whatever http.auth says.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { checkAdmin } from './admin-auth.ts';
import { parseCookies } from './console/cookies.ts';
import type { SessionStore } from './console/sessions.ts';

export const SESSION_COOKIE = 'xg_session';

/** The reader of a request: a signed-in administrator (session or bearer token), or anonymous. */
export interface Viewer {
  readonly who: string | null;
  readonly via: 'session' | 'token' | null;
  readonly sessionId: string | null;
  /** The peer is this machine (127.0.0.0/8, ::1). */
  readonly loopback: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    viewer: Viewer;
  }
}

export interface AccessOptions {
  readonly auth: 'actions' | 'all';
  readonly adminTokenFile: string | null;
  readonly sessions: SessionStore;
}

const ALWAYS_OPEN = [
  /^\/healthz(\/|$|\?)/,
  /^\/readyz($|\?)/,
  /^\/metrics($|\?)/,
  /^\/console\/assets\//,
  /^\/console\/sign-in($|\?)/,
];

/** True for loopback peers, including IPv4-mapped IPv6. */
export function isLoopback(ip: string): boolean {
  // Also a bind address as configured (http.host may say localhost).
  return ip === 'localhost' || ip === '::1' || /^(::ffff:)?127\./.test(ip);
}

function viewerOf(req: FastifyRequest, o: AccessOptions): Viewer {
  const loopback = isLoopback(req.ip);
  const s = o.sessions.get(parseCookies(req.headers.cookie).get(SESSION_COOKIE));
  if (s) {
    return { who: s.who, via: 'session', sessionId: s.id, loopback };
  }
  if (req.headers.authorization !== undefined && o.adminTokenFile !== null) {
    const a = checkAdmin(o.adminTokenFile, req.headers.authorization);
    if (a.ok) {
      return { who: a.who, via: 'token', sessionId: null, loopback };
    }
  }
  return { who: null, via: null, sessionId: null, loopback };
}

/** Refuses an anonymous read when http.auth is 'all': the console is sent to sign in, the API gets 401. */
function refuse(req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const url = req.raw.url ?? '/';
  if (url === '/' || url.startsWith('/console')) {
    return reply
      .code(303)
      .header('Location', `/console/sign-in?next=${encodeURIComponent(url)}`)
      .send();
  }
  return reply
    .code(401)
    .header('WWW-Authenticate', 'Bearer realm="xnat-gateway"')
    .send({ error: 'unauthorized', message: 'Reading needs sign-in or an admin bearer token (http.auth is "all").' });
}

/** Sets `req.viewer` on every request and enforces http.auth for reads. */
export function registerAccess(app: FastifyInstance, o: AccessOptions): void {
  app.decorateRequest('viewer', null as unknown as Viewer);
  app.addHook('onRequest', (req, reply, done) => {
    req.viewer = viewerOf(req, o);
    const url = req.raw.url ?? '/';
    if (o.auth === 'all' && req.viewer.who === null && !ALWAYS_OPEN.some((r) => r.test(url))) {
      void refuse(req, reply);
      return;
    }
    done();
  });
}
