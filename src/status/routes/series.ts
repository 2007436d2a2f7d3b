//! GET /series (paged list of series batches) and GET /series/:id (one batch's full timeline).
import type { FastifyInstance } from 'fastify';
import type { SeriesState } from '../../events.ts';
import { JOB_STATES, SERIES_STATES, SOURCES } from '../../queue/stats.ts';
import type { RouteDeps } from '../server.ts';
import { routeSchema, routeView } from './routing.ts';
import { bool, errorSchema, int, nullableInt, nullableStr, obj, str } from '../schemas.ts';

const summaryProps = {
  id: int,
  studyUid: str,
  seriesUid: str,
  batch: int,
  state: { type: 'string', enum: SERIES_STATES },
  modality: nullableStr,
  instanceCount: int,
  byteCount: int,
  firstInstanceAt: int,
  lastInstanceAt: int,
  completedAt: nullableInt,
  deliveredAt: nullableInt,
};

const attemptSchema = obj({ attempt: int, startedAt: int, finishedAt: nullableInt, outcome: nullableStr, code: nullableStr, error: nullableStr });

const timelineSchema = obj({
  ...summaryProps,
  associations: {
    type: 'array',
    items: obj({
      uid: str, source: { type: 'string', enum: SOURCES }, callingAe: str, calledAe: str, peerIp: str,
      openedAt: int, closedAt: nullableInt, outcome: nullableStr, instances: int,
    }),
  },
  jobs: {
    type: 'array',
    items: obj({
      id: int, sink: str, state: { type: 'string', enum: JOB_STATES }, attemptCount: int, maxAttempts: int, runAt: int,
      createdAt: int, updatedAt: int, lastCode: nullableStr, lastStage: nullableStr, lastError: nullableStr,
      receipt: nullableStr, attempts: { type: 'array', items: attemptSchema },
      // Verified arrival: XNAT's status for the session, instances sent and found, XNAT's message.
      detail: {
        anyOf: [{ type: 'null' }, {
          type: 'object', additionalProperties: false,
          properties: {
            uri: str, xnatStatus: { type: 'string', enum: ['RECEIVING', 'READY', 'CONFLICT', 'ERROR', 'ARCHIVED', 'MISSING'] },
            sent: int, found: nullableInt, message: str, statuses: { type: 'object', additionalProperties: int },
          },
        }],
      },
    }),
  },
  events: {
    type: 'array',
    items: obj({
      id: int, at: int, kind: str, instanceId: nullableInt, associationId: nullableInt,
      // Scalars only: stats.safeDetail has already dropped nested values and patient-like keys.
      detail: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
    }),
  },
  eventsTruncated: bool,
  /** The quarantine protocol's decision: project, reasons, rules hash; state 'waiting' for an RT object held for its images. */
  route: routeSchema,
});

const listQuery = {
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: SERIES_STATES },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    before: { type: 'integer', minimum: 1 },
  },
} as const;

const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
} as const;

interface ListQuery { state?: SeriesState; limit: number; before?: number }

/** Registers the series list (newest first, cursor `before` = an id) and the per-batch timeline. */
export function registerSeriesRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get<{ Querystring: ListQuery }>(
    '/series',
    {
      schema: {
        querystring: listQuery,
        response: { 200: obj({ items: { type: 'array', items: obj(summaryProps) }, nextBefore: nullableInt }), 400: errorSchema },
      },
    },
    (req) => deps.stats.listSeries(req.query),
  );

  app.get<{ Params: { id: number } }>(
    '/series/:id',
    { schema: { params: idParams, response: { 200: timelineSchema, 400: errorSchema, 404: errorSchema } } },
    (req, reply) => {
      const timeline = deps.stats.timeline(req.params.id);
      if (!timeline) {return reply.code(404).send({ error: 'not found' });}
      return { ...timeline, route: routeView(deps.routing?.get(req.params.id)) };
    },
  );
}
