//! What the spool holds and why (the `spool` part of GET /status), and POST /series/:id/discard (admin token).
import type { FastifyInstance } from 'fastify';
import { HOLDING_REASONS } from '../../store/originals.ts';
import { requireAdmin } from '../admin-auth.ts';
import type { RouteDeps } from '../deps.ts';
import { errorSchema, int, keyed, nullableInt, obj, str } from '../schemas.ts';

export const spoolSchema = obj({
  holding: keyed(HOLDING_REASONS, obj({ series: int, files: int, bytes: int })),
  retainDelivered: { anyOf: [{ type: 'integer', enum: [0] }, obj({ maxBytes: int, maxAgeMs: nullableInt })] },
});

/** The `spool` section of /status: series, files and bytes per reason they are held. */
export async function spoolStatus(deps: RouteDeps): Promise<unknown> {
  const s = deps.spool;
  return s ? { holding: await s.holdings(), retainDelivered: s.retainDelivered } : null;
}

export function registerSpoolRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const spool = deps.spool;
  if (!spool) {
    return;
  }
  app.post<{ Params: { id: number }; Body: { reason: string } }>(
    '/series/:id/discard',
    {
      schema: {
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'integer', minimum: 1 } },
        },
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['reason'],
          properties: { reason: { type: 'string', minLength: 1, maxLength: 500, pattern: '\\S' } },
        },
        response: {
          200: obj({ seriesId: int, files: int, bytes: int, jobsCancelled: int, by: str }),
          401: errorSchema,
          403: errorSchema,
          404: errorSchema,
          409: errorSchema,
        },
      },
    },
    async (req, reply) => {
      const auth = requireAdmin(spool.adminTokenFile, req, reply, 'Discard');
      if (!auth) {
        return reply;
      }
      const r = await spool.discard(req.params.id, auth.who, req.body.reason.trim());
      if (!r.ok) {
        return reply.code(r.status).send({ error: r.status === 404 ? 'not found' : 'conflict', message: r.message });
      }
      req.log.info(
        { seriesId: r.seriesId, files: r.files, bytes: r.bytes, jobsCancelled: r.jobsCancelled, by: auth.who },
        'Series discarded from the spool.',
      );
      return { seriesId: r.seriesId, files: r.files, bytes: r.bytes, jobsCancelled: r.jobsCancelled, by: auth.who };
    },
  );
}
