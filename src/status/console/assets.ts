//! Serves the console's static files from memory: its own CSS and script, and htmx from node_modules.
// Nothing is fetched from a CDN (hospital networks have no internet); htmx comes from the npm
// package the gateway depends on, so a production install (`npm ci --omit=dev`) has it.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

function load(file: string, type: string): Asset {
  const body = readFileSync(file);
  return { body, type, etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"` };
}

/** The asset names the pages link to. */
export const ASSET_NAMES = ['console.css', 'console.js', 'htmx.min.js'] as const;

export function registerAssets(app: FastifyInstance): void {
  const own = (name: string): string => fileURLToPath(new URL(`./assets/${name}`, import.meta.url));
  const assets = new Map<string, Asset>([
    ['console.css', load(own('console.css'), 'text/css; charset=utf-8')],
    ['console.js', load(own('console.js'), 'text/javascript; charset=utf-8')],
    [
      'htmx.min.js',
      load(fileURLToPath(import.meta.resolve('htmx.org/dist/htmx.min.js')), 'text/javascript; charset=utf-8'),
    ],
  ]);
  app.get<{ Params: { name: string } }>('/console/assets/:name', (req, reply) => {
    const a = assets.get(req.params.name);
    if (!a) {
      return reply.code(404).send({ error: 'not found' });
    }
    // Revalidated each time (no-cache): an upgrade never leaves an old script in a browser.
    void reply.header('Cache-Control', 'no-cache').header('ETag', a.etag);
    if (req.headers['if-none-match'] === a.etag) {
      return reply.code(304).send();
    }
    return reply.type(a.type).send(a.body);
  });
}
