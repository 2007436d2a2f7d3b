//! GET /series (paged list of series batches) and GET /series/:id (one batch's full timeline).
import type { FastifyInstance } from 'fastify';
import type { SeriesState, SourceId } from '../../events.ts';
import {
  ROUTE_FILTERS,
  SERIES_SORTS,
  type RouteFilter,
  type SeriesListQuery,
  type SeriesSort,
} from '../../store/series-list.ts';
import { JOB_STATES, SERIES_STATES } from '../../store/stats.ts';
import type { RouteDeps } from '../deps.ts';
import { seriesView } from '../series-view.ts';
import { iso, parseTime } from '../time.ts';
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
  // The same times as ISO 8601 (UTC), for people and tools that do not read epoch milliseconds.
  firstInstanceAtIso: str,
  lastInstanceAtIso: str,
  completedAtIso: nullableStr,
  deliveredAtIso: nullableStr,
};

/** A list row: the summary plus the routing decision, the senders and when a receiving batch completes. */
export const listItemSchema = obj({
  ...summaryProps,
  project: nullableStr,
  target: { type: ['string', 'null'], enum: ['hospital', 'quarantine', null] },
  routeState: { type: ['string', 'null'], enum: ['waiting', 'routed', null] },
  releasedAt: nullableInt,
  reasons: { type: 'array', items: obj({ rule: str, message: str }) },
  senders: { type: 'array', items: str },
  sources: { type: 'array', items: str },
  openAssociations: int,
  completesAt: nullableInt,
  completesAtIso: nullableStr,
});

const attemptSchema = obj({
  attempt: int,
  startedAt: int,
  finishedAt: nullableInt,
  outcome: nullableStr,
  code: nullableStr,
  error: nullableStr,
});

const timelineSchema = obj({
  ...summaryProps,
  associations: {
    type: 'array',
    items: obj({
      uid: str,
      source: str,
      callingAe: str,
      calledAe: str,
      peerIp: str,
      openedAt: int,
      closedAt: nullableInt,
      outcome: nullableStr,
      instances: int,
    }),
  },
  jobs: {
    type: 'array',
    items: obj({
      id: int,
      sink: str,
      state: { type: 'string', enum: JOB_STATES },
      attemptCount: int,
      maxAttempts: int,
      runAt: int,
      createdAt: int,
      updatedAt: int,
      lastCode: nullableStr,
      lastStage: nullableStr,
      lastError: nullableStr,
      receipt: nullableStr,
      attempts: { type: 'array', items: attemptSchema },
      // Verified arrival: XNAT's status for the session, instances sent and found, XNAT's message.
      detail: {
        anyOf: [
          { type: 'null' },
          {
            type: 'object',
            additionalProperties: false,
            properties: {
              uri: str,
              xnatStatus: { type: 'string', enum: ['RECEIVING', 'READY', 'CONFLICT', 'ERROR', 'ARCHIVED', 'MISSING'] },
              sent: int,
              found: nullableInt,
              message: str,
              statuses: { type: 'object', additionalProperties: int },
            },
          },
        ],
      },
    }),
  },
  events: {
    type: 'array',
    items: obj({
      id: int,
      at: int,
      kind: str,
      instanceId: nullableInt,
      associationId: nullableInt,
      // Scalars only: safeDetail (store/sqlite/timeline.ts) has already dropped nested values and patient-like keys.
      detail: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
    }),
  },
  eventsTruncated: bool,
  /** The quarantine protocol's decision: project, reasons, rules hash; state 'waiting' for an RT object held for its images. */
  route: routeSchema,
});

const listQuery = (sources: readonly string[]) => ({
  type: 'object',
  additionalProperties: false,
  properties: {
    state: { type: 'string', enum: SERIES_STATES },
    route: { type: 'string', enum: ROUTE_FILTERS },
    project: { type: 'string', minLength: 1, maxLength: 64 },
    source: { type: 'string', enum: sources },
    sender: { type: 'string', minLength: 1, maxLength: 64 },
    modality: { type: 'string', minLength: 1, maxLength: 16 },
    from: { type: 'string', minLength: 1, maxLength: 40 },
    to: { type: 'string', minLength: 1, maxLength: 40 },
    sort: { type: 'string', enum: SERIES_SORTS },
    order: { type: 'string', enum: ['asc', 'desc'] },
    limit: { type: 'integer', minimum: 1, maximum: 500, default: 50 },
    offset: { type: 'integer', minimum: 0 },
    before: { type: 'integer', minimum: 1 },
  },
});

const idParams = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: { id: { type: 'integer', minimum: 1 } },
} as const;

interface ListQuery {
  state?: SeriesState;
  route?: RouteFilter;
  project?: string;
  source?: SourceId;
  sender?: string;
  modality?: string;
  from?: string;
  to?: string;
  sort?: SeriesSort;
  order?: 'asc' | 'desc';
  limit: number;
  offset?: number;
  before?: number;
}

/** The validated query as a list query; a time that is neither ISO 8601 nor epoch ms throws a 400. */
export function toListQuery(q: ListQuery): SeriesListQuery {
  const time = (name: 'from' | 'to'): number | undefined => {
    const v = q[name];
    if (v === undefined) {
      return undefined;
    }
    const ms = parseTime(v);
    if (ms === null) {
      throw Object.assign(
        new Error(`query parameter '${name}' must be an ISO 8601 date or time, or epoch milliseconds`),
        { statusCode: 400 },
      );
    }
    return ms;
  };
  return { ...q, from: time('from'), to: time('to') };
}

/** Registers the series list (newest first, cursor `before` = an id) and the per-batch timeline. */
export function registerSeriesRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get<{ Querystring: ListQuery }>(
    '/series',
    {
      schema: {
        querystring: listQuery(deps.sources),
        response: {
          200: obj({
            items: { type: 'array', items: listItemSchema },
            total: int,
            nextOffset: nullableInt,
            nextBefore: nullableInt,
          }),
          400: errorSchema,
        },
      },
    },
    async (req) => {
      const page = await deps.stats.listSeries(toListQuery(req.query));
      return { ...page, items: page.items.map((i) => seriesView(i, deps.quietPeriodMs)) };
    },
  );

  app.get<{ Params: { id: number } }>(
    '/series/:id',
    { schema: { params: idParams, response: { 200: timelineSchema, 400: errorSchema, 404: errorSchema } } },
    async (req, reply) => {
      const timeline = await deps.stats.timeline(req.params.id);
      if (!timeline) {
        return reply.code(404).send({ error: 'not found' });
      }
      return {
        ...timeline,
        route: routeView(await deps.routing?.get(req.params.id)),
        firstInstanceAtIso: iso(timeline.firstInstanceAt),
        lastInstanceAtIso: iso(timeline.lastInstanceAt),
        completedAtIso: iso(timeline.completedAt),
        deliveredAtIso: iso(timeline.deliveredAt),
      };
    },
  );
}
