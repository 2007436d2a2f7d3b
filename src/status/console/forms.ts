//! Console form posts: URL-encoded bodies, the CSRF check, and "only an administrator may do this".
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ErrorCode } from '../../errors.ts';
import { csrfOk, CSRF_FIELD, type NavId, type Renderer } from './render.ts';

export type FormBody = Record<string, string | undefined>;

/** Where "Back" goes from a refused form, by the page it belongs to. */
const BACK: Record<NavId, string> = {
  overview: '/console',
  series: '/console/series',
  quarantine: '/console/quarantine',
  jobs: '/console/jobs',
  import: '/console/import',
  rules: '/console/rules',
  find: '/console/find',
  pulls: '/console/pulls',
  'sign-in': '/console/sign-in',
};

/** Parses application/x-www-form-urlencoded bodies (at most 64 KiB) in the console's scope. */
export function registerFormParser(app: FastifyInstance): void {
  app.addContentTypeParser(
    'application/x-www-form-urlencoded',
    { parseAs: 'string', bodyLimit: 64 * 1024 },
    (_req, body, done) => {
      done(null, Object.fromEntries(new URLSearchParams(body as string)));
    },
  );
}

/**
 * Checks a form post: a valid CSRF token first (else 403, logged with ERR_CONSOLE_CSRF), then, when
 * `admin`, a signed-in administrator (else 403 asking to sign in). Returns who may act, or null
 * when a refusal page was sent.
 */
export function checkForm(
  req: FastifyRequest,
  reply: FastifyReply,
  view: Renderer,
  o: { admin: boolean; action: string; active: NavId },
): { who: string | null } | null {
  const body = (req.body ?? {}) as FormBody;
  if (!csrfOk(req, body[CSRF_FIELD])) {
    req.log.warn(
      { code: ErrorCode.CONSOLE_CSRF, ip: req.ip, url: req.routeOptions.url },
      `${o.action} refused: the form carried no valid CSRF token.`,
    );
    view.page(
      req,
      reply,
      'message',
      {
        title: 'Refused',
        active: o.active,
        flash: {
          kind: 'error',
          text: 'Refused: this form did not come from this console page, or it is out of date. Reload the page and try again.',
        },
      },
      { heading: 'Refused', text: `${o.action} was not done.`, link: { href: BACK[o.active], label: 'Back' } },
      403,
    );
    return null;
  }
  if (o.admin && req.viewer.who === null) {
    req.log.warn(
      { code: ErrorCode.CONSOLE_SIGN_IN, ip: req.ip, url: req.routeOptions.url },
      `${o.action} refused: not signed in.`,
    );
    view.page(
      req,
      reply,
      'message',
      { title: 'Sign in first', active: o.active },
      {
        heading: 'Sign in first',
        text: `${o.action} needs an administrator: sign in, then try again.`,
        link: { href: '/console/sign-in', label: 'Sign in' },
      },
      403,
    );
    return null;
  }
  return { who: req.viewer.who };
}

/** The form body as a record (after checkForm). */
export function formOf(req: FastifyRequest): FormBody {
  return (req.body ?? {}) as FormBody;
}
