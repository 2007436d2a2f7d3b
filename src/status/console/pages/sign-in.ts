//! Sign-in and sign-out: a session cookie for an administrator named in the token or password file.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../../../errors.ts';
import { SESSION_COOKIE } from '../../access.ts';
import { verifySignIn } from '../../credentials.ts';
import { setCookie } from '../cookies.ts';
import { checkForm, formOf } from '../forms.ts';
import { CSRF_COOKIE, type PageFrame, type Renderer } from '../render.ts';
import { duration } from '../format.ts';
import type { ConsoleDeps } from '../types.ts';

/** Only a console path may be the place to return to (no open redirect). */
function safeNext(next: string | undefined): string {
  return next && /^\/console(\/[A-Za-z0-9/_?=&%.-]*)?$/.test(next) && !next.startsWith('//') ? next : '/console';
}

export function registerSignIn(app: FastifyInstance, c: ConsoleDeps, view: Renderer): void {
  const form = (
    req: FastifyRequest,
    reply: FastifyReply,
    next: string,
    flash: PageFrame['flash'],
    status = 200,
  ): FastifyReply =>
    view.page(
      req,
      reply,
      'sign-in',
      { title: 'Sign in', active: 'sign-in', flash },
      {
        next,
        configured: c.adminTokenFile !== null || c.passwordFile !== null,
      },
      status,
    );

  app.get<{ Querystring: { next?: string; out?: string } }>('/console/sign-in', (req, reply) =>
    form(
      req,
      reply,
      safeNext(req.query.next),
      req.query.out === '1' ? { kind: 'ok', text: 'You are signed out.' } : null,
    ),
  );

  app.post('/console/sign-in', async (req, reply) => {
    if (!checkForm(req, reply, view, { admin: false, action: 'Sign-in', active: 'sign-in' })) {
      return reply;
    }
    const body = formOf(req);
    const next = safeNext(body.next);
    const wait = c.throttle.waitMs(req.ip);
    if (wait > 0) {
      req.log.warn(
        { code: ErrorCode.CONSOLE_SIGN_IN, ip: req.ip },
        'Sign-in refused: too many failed attempts from this address.',
      );
      return form(
        req,
        reply,
        next,
        { kind: 'error', text: `Too many failed sign-ins from this address; try again in ${duration(wait)}.` },
        429,
      );
    }
    const r = await verifySignIn(c, (body.name ?? '').trim(), body.password ?? '');
    if (!r.ok) {
      c.throttle.failed(req.ip);
      // Not the name: a password typed into the name field must not end up in the audit trail.
      await c.audit('console.sign-in-refused', null, { ip: req.ip });
      req.log.warn({ code: ErrorCode.CONSOLE_SIGN_IN, ip: req.ip }, 'Sign-in refused.');
      return form(req, reply, next, { kind: 'error', text: r.message }, 401);
    }
    c.throttle.succeeded(req.ip);
    c.sessions.destroy(req.viewer.sessionId ?? undefined);
    const s = c.sessions.create(r.who);
    await c.audit('console.sign-in', null, { by: r.who, ip: req.ip });
    req.log.info({ by: r.who, ip: req.ip }, 'Signed in to the console.');
    // A fresh CSRF token with the new session: a token planted before sign-in is worthless after it.
    return reply
      .code(303)
      .header('Set-Cookie', [
        setCookie(SESSION_COOKIE, s.id, { secure: c.secureCookies }),
        setCookie(CSRF_COOKIE, '', { maxAgeSeconds: 0, secure: c.secureCookies }),
      ])
      .header('Location', next)
      .send();
  });

  app.post('/console/sign-out', async (req, reply) => {
    if (!checkForm(req, reply, view, { admin: false, action: 'Sign-out', active: 'overview' })) {
      return reply;
    }
    if (req.viewer.sessionId) {
      c.sessions.destroy(req.viewer.sessionId);
      await c.audit('console.sign-out', null, { by: req.viewer.who });
    }
    return reply
      .code(303)
      .header('Set-Cookie', [
        setCookie(SESSION_COOKIE, '', { maxAgeSeconds: 0, secure: c.secureCookies }),
        setCookie(CSRF_COOKIE, '', { maxAgeSeconds: 0, secure: c.secureCookies }),
      ])
      .header('Location', '/console/sign-in?out=1')
      .send();
  });
}
