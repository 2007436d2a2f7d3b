//! The operator console: server-rendered pages on the status port (docs/console.md).
// Pages read the same stores as the JSON API and act through the same functions (release,
// requeue, discard, explain); forms carry a CSRF token and actions need a signed-in
// administrator. Every byte the browser loads comes from this server, under a
// Content-Security-Policy that allows nothing else.
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../server.ts';
import { registerAssets } from './assets.ts';
import { registerFormParser } from './forms.ts';
import { registerDiscard } from './pages/discard.ts';
import { registerFind } from './pages/find.ts';
import { registerImport } from './pages/import.ts';
import { registerJobs } from './pages/jobs.ts';
import { registerOverview } from './pages/overview.ts';
import { registerQuarantine } from './pages/quarantine.ts';
import { registerRules } from './pages/rules.ts';
import { registerSeriesDetail } from './pages/series-detail.ts';
import { registerSeriesList } from './pages/series-list.ts';
import { registerSignIn } from './pages/sign-in.ts';
import { createRenderer } from './render.ts';
import type { ConsoleDeps } from './types.ts';

/** Scripts, styles, images and form targets: this server only; no framing, no referrer to other sites. */
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

export function registerConsole(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps): void {
  app.get('/', (_req, reply) => reply.code(303).header('Location', '/console').send());
  app.register((scope, _opts, done) => {
    scope.addHook('onSend', (_req, reply, payload, next) => {
      void reply.header('Content-Security-Policy', CSP).header('X-Content-Type-Options', 'nosniff')
        .header('Referrer-Policy', 'same-origin').header('X-Frame-Options', 'DENY');
      if (!reply.hasHeader('Cache-Control')) {void reply.header('Cache-Control', 'no-store');}
      next(null, payload);
    });
    registerFormParser(scope);
    registerAssets(scope);
    const view = createRenderer({ secureCookies: c.secureCookies, viewer: (req) => req.viewer });
    registerOverview(scope, deps, c, view);
    registerSeriesList(scope, deps, view);
    registerSeriesDetail(scope, deps, c, view);
    registerQuarantine(scope, deps, view, c.hospitalProject);
    registerDiscard(scope, deps, view);
    registerJobs(scope, deps, view);
    registerImport(scope, deps, c, view);
    registerRules(scope, deps, c, view);
    registerFind(scope, deps, c, view);
    registerSignIn(scope, c, view);
    done();
  });
}
