//! Renders the console's eta templates (src/status/console/templates, copied into dist by the build).
import { timingSafeEqual } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { Eta } from 'eta';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Viewer } from '../access.ts';
import { parseCookies, setCookie } from './cookies.ts';
import { format } from './format.ts';
import { newToken } from './sessions.ts';

export const CSRF_COOKIE = 'xg_csrf';
export const CSRF_FIELD = '_csrf';

/** The console's pages, for the navigation's "current page" mark. */
export type NavId = 'overview' | 'series' | 'quarantine' | 'jobs' | 'import' | 'rules' | 'find' | 'pulls' | 'sign-in';

/** What every page's layout needs; `flash` is a sentence the server chose (never echoed input). */
export interface PageFrame {
  readonly title: string;
  readonly active: NavId;
  readonly flash?: { readonly kind: 'ok' | 'error'; readonly text: string } | null | undefined;
}

export interface Renderer {
  /** A whole page (layout included), 200 unless `status`; no caching, the console's security headers are set by its scope. */
  page(
    req: FastifyRequest,
    reply: FastifyReply,
    template: string,
    frame: PageFrame,
    model: object,
    status?: number,
  ): FastifyReply;
  /** A template alone (a live region that htmx swaps in). */
  fragment(reply: FastifyReply, template: string, model: object): FastifyReply;
}

/**
 * The CSRF token of this browser: a random value in an HttpOnly, SameSite=Strict cookie, repeated
 * in every form (double submit). A site that is not the console can neither read it nor make the
 * browser send the cookie along, so a forged form post is refused.
 */
export function csrfToken(req: FastifyRequest, reply: FastifyReply, secure: boolean): string {
  const have = parseCookies(req.headers.cookie).get(CSRF_COOKIE);
  if (have && /^[A-Za-z0-9_-]{43}$/.test(have)) {
    return have;
  }
  const token = newToken();
  void reply.header('Set-Cookie', setCookie(CSRF_COOKIE, token, { secure }));
  return token;
}

/** True when the form's token matches the browser's CSRF cookie, and the Origin (if sent) is this host. */
export function csrfOk(req: FastifyRequest, field: string | undefined): boolean {
  const cookie = parseCookies(req.headers.cookie).get(CSRF_COOKIE);
  if (!cookie || !field || cookie.length !== field.length) {
    return false;
  }
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== 'null') {
    try {
      if (new URL(origin).host !== req.headers.host) {
        return false;
      }
    } catch {
      return false; // an Origin that is not a URL is not this console
    }
  } else if (origin === 'null') {
    return false;
  }
  return timingSafeEqual(Buffer.from(cookie), Buffer.from(field));
}

export function createRenderer(o: { secureCookies: boolean; viewer: (req: FastifyRequest) => Viewer }): Renderer {
  const eta = new Eta({
    views: fileURLToPath(new URL('./templates', import.meta.url)),
    cache: true,
    autoEscape: true,
    defaultExtension: '.eta',
  });
  return {
    page(req, reply, template, frame, model, status = 200) {
      const csrf = csrfToken(req, reply, o.secureCookies);
      const html = eta.render(`./${template}`, { ...model, frame, viewer: o.viewer(req), csrf, f: format });
      return reply.code(status).type('text/html; charset=utf-8').send(html);
    },
    fragment(reply, template, model) {
      return reply.type('text/html; charset=utf-8').send(eta.render(`./${template}`, { ...model, f: format }));
    },
  };
}
