//! Dead jobs: every delivery that gave up, with its reason, and requeue.
import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../../deps.ts';
import { checkForm } from '../forms.ts';
import type { PageFrame, Renderer } from '../render.ts';

export function registerJobs(app: FastifyInstance, deps: RouteDeps, view: Renderer): void {
  const jobs = deps.jobs;
  const show = async (
    req: Parameters<Renderer['page']>[0],
    reply: Parameters<Renderer['page']>[1],
    flash: PageFrame['flash'],
    status = 200,
  ): Promise<ReturnType<Renderer['page']>> =>
    view.page(
      req,
      reply,
      'jobs',
      { title: 'Dead jobs', active: 'jobs', flash },
      { jobs: jobs ? await jobs.list({ state: 'dead', limit: 500 }) : [] },
      status,
    );

  app.get<{ Querystring: { requeued?: string } }>('/console/jobs', async (req, reply) => {
    const id = Number(req.query.requeued);
    const job = Number.isInteger(id) && id > 0 ? await jobs?.get(id) : undefined;
    return show(
      req,
      reply,
      job
        ? {
            kind: 'ok',
            text: `Job ${String(job.id)} (series ${String(job.seriesId)} to ${job.sink}) is ${job.state} again, attempts reset.`,
          }
        : null,
    );
  });

  app.post<{ Params: { id: string } }>('/console/jobs/:id/requeue', async (req, reply) => {
    const ok = checkForm(req, reply, view, { admin: true, action: 'Requeue', active: 'jobs' });
    if (!ok?.who) {
      return reply;
    }
    const id = /^\d{1,15}$/.test(req.params.id) ? Number(req.params.id) : 0;
    const { before, job } = jobs ? await jobs.requeue(id, ok.who) : { before: undefined, job: null };
    if (!before) {
      return show(req, reply, { kind: 'error', text: `There is no job ${req.params.id}.` }, 404);
    }
    if (!job) {
      return show(
        req,
        reply,
        { kind: 'error', text: `Job ${String(id)} is ${before.state}; only dead or queued jobs can be requeued.` },
        409,
      );
    }
    req.log.info(
      { jobId: id, seriesId: job.seriesId, sink: job.sink, from: before.state, by: ok.who },
      'Job requeued (console).',
    );
    return reply
      .code(303)
      .header('Location', `/console/jobs?requeued=${String(id)}`)
      .send();
  });
}
