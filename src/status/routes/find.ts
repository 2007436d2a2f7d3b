//! POST /series/find: the series of one patient or accession number, by keyed hash (admin token).
// The identifier travels in the body, never in the URL; it is hashed, matched against
// series_lookup, and neither logged nor stored. The audit row says who searched, for which kind of
// identifier, and how many series matched.
import type { FastifyInstance } from 'fastify';
import { requireAdmin } from '../admin-auth.ts';
import type { RouteDeps } from '../deps.ts';
import { seriesView } from '../series-view.ts';
import { errorSchema, int, obj } from '../schemas.ts';
import { listItemSchema } from './series.ts';

const body = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  maxProperties: 1,
  properties: {
    patientId: { type: 'string', minLength: 1, maxLength: 64 },
    accessionNumber: { type: 'string', minLength: 1, maxLength: 64 },
  },
} as const;

export function registerFindRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const c = deps.console;
  if (!c?.find) {
    return;
  }
  const find = c.find;
  app.post<{ Body: { patientId?: string; accessionNumber?: string } }>(
    '/series/find',
    {
      schema: {
        body,
        response: {
          200: obj({ items: { type: 'array', items: listItemSchema }, total: int }),
          400: errorSchema,
          401: errorSchema,
          403: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const auth = requireAdmin(deps.access?.adminTokenFile ?? null, req, reply, 'Find');
      if (!auth) {
        return reply;
      }
      const kind = req.body.patientId !== undefined ? 'patient' : 'accession';
      const items = (await find(kind, req.body.patientId ?? req.body.accessionNumber ?? '')).map((i) =>
        seriesView(i, deps.quietPeriodMs),
      );
      await c.audit('series.find', null, { by: auth.who, kind, matches: items.length });
      req.log.info({ by: auth.who, kind, matches: items.length }, 'Find by identifier.');
      return { items, total: items.length };
    },
  );
}
