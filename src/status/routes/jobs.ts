//! GET /jobs (delivery jobs by state, e.g. the dead ones) and POST /jobs/:id/requeue (admin token).
import type { FastifyInstance } from 'fastify';
import type { Job, JobState } from '../../store/jobs.ts';
import { JOB_STATES } from '../../store/stats.ts';
import { requireAdmin } from '../admin-auth.ts';
import type { RouteDeps } from '../deps.ts';
import { errorSchema, int, nullableInt, nullableStr, obj, str } from '../schemas.ts';

const jobSchema = obj({
  id: int,
  seriesId: int,
  sink: str,
  state: { type: 'string', enum: JOB_STATES },
  attempts: int,
  maxAttempts: int,
  runAt: int,
  lastCode: nullableStr,
  lastStage: nullableStr,
  lastError: nullableStr,
  receipt: nullableStr,
  createdAt: int,
  updatedAt: int,
  finishedAt: nullableInt,
});

// Receipts and errors hold XNAT URIs with pseudonymised labels and our own messages: no PHI.
const view = (j: Job): Record<string, unknown> => ({
  id: j.id,
  seriesId: j.seriesId,
  sink: j.sink,
  state: j.state,
  attempts: j.attempts,
  maxAttempts: j.maxAttempts,
  runAt: j.runAt,
  lastCode: j.lastCode,
  lastStage: j.lastStage,
  lastError: j.lastError,
  receipt: j.receipt,
  createdAt: j.createdAt,
  updatedAt: j.updatedAt,
  finishedAt: j.state === 'done' || j.state === 'dead' ? j.updatedAt : null,
});

export function registerJobRoutes(app: FastifyInstance, deps: RouteDeps): void {
  const jobs = deps.jobs;
  if (!jobs) {
    return;
  }

  app.get<{ Querystring: { state?: JobState; limit: number } }>(
    '/jobs',
    {
      schema: {
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            state: { type: 'string', enum: JOB_STATES },
            limit: { type: 'integer', minimum: 1, maximum: 500, default: 100 },
          },
        },
        response: { 200: obj({ jobs: { type: 'array', items: jobSchema } }) },
      },
    },
    async (req) => ({
      jobs: (await jobs.list({ limit: req.query.limit, ...(req.query.state ? { state: req.query.state } : {}) })).map(
        view,
      ),
    }),
  );

  app.post<{ Params: { id: number } }>(
    '/jobs/:id/requeue',
    {
      schema: {
        params: {
          type: 'object',
          additionalProperties: false,
          required: ['id'],
          properties: { id: { type: 'integer', minimum: 1 } },
        },
        response: { 200: jobSchema, 401: errorSchema, 403: errorSchema, 404: errorSchema, 409: errorSchema },
      },
    },
    async (req, reply) => {
      const auth = requireAdmin(jobs.adminTokenFile, req, reply, 'Requeue');
      if (!auth) {
        return reply;
      }
      const { before, job } = await jobs.requeue(req.params.id, auth.who);
      if (!before) {
        return reply.code(404).send({ error: 'not found', message: `No job ${String(req.params.id)}.` });
      }
      if (!job) {
        return reply.code(409).send({
          error: 'conflict',
          message: `Job ${String(before.id)} is ${before.state}; only queued or dead jobs can be requeued.`,
        });
      }
      req.log.info(
        { jobId: job.id, seriesId: job.seriesId, sink: job.sink, from: before.state, by: auth.who },
        'Job requeued.',
      );
      return view(job);
    },
  );
}
