import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { createEvents, type DaemonEventMap } from '../../../../src/events.ts';
import type { JobStore } from '../../../../src/store/jobs.ts';
import { createJobStore } from '../../../../src/store/sqlite/jobs.ts';
import { sqliteUnitOfWork } from '../../../../src/store/sqlite/turns.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';
import { createTmpDb, insertSeries, must, seriesState, type TmpDb } from '../../../helpers/series-rows.ts';

const failure = { code: ErrorCode.SINK_WRITE, stage: 'sending' as const, error: 'ENOSPC' };

describe('job store', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let seen: { name: string; payload: unknown }[];
  let seriesId: number;

  beforeEach(() => {
    t = createTmpDb();
    clock = createFakeClock();
    const events = createEvents();
    seen = [];
    for (const name of ['series.state', 'job.succeeded', 'job.retrying', 'job.failed'] as const) {
      events.on(name, (payload: DaemonEventMap[typeof name]) => {
        seen.push({ name, payload });
      });
    }
    jobs = createJobStore(t.db, clock, { leaseMs: 30_000, events });
    seriesId = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
  });
  afterEach(() => {
    t.cleanup();
  });

  it('announces a change made inside a unit of work only after its COMMIT, and never after a ROLLBACK', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const leased = must(await jobs.claim(clock.now()));
    await jobs.complete(leased, 'r');
    expect(seriesState(t.db, seriesId)).toBe('delivered');
    seen.length = 0;
    // A release refused after the job was queued again (the known case: redeliver inside releaseSeries).
    await expect(
      sqliteUnitOfWork(t.db).run(async () => {
        await jobs.redeliver(seriesId, ['a'], 3);
        throw new Error('refused after all');
      }),
    ).rejects.toThrow('refused after all');
    expect(seriesState(t.db, seriesId)).toBe('delivered');
    expect(seen).toEqual([]);
    await sqliteUnitOfWork(t.db).run(async () => {
      await jobs.redeliver(seriesId, ['a'], 3);
      // Not yet: the outer transaction is still open.
      expect(seen).toEqual([]);
    });
    expect(seriesState(t.db, seriesId)).toBe('complete');
    expect(seen.map((e) => e.name)).toEqual(['series.state']);
    expect(seen[0]?.payload).toMatchObject({ seriesId, from: 'delivered', to: 'complete' });
  });

  it('enqueues one job per sink and ignores a repeat', async () => {
    expect(await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 3)).toBe(2);
    expect(await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 3)).toBe(0);
    expect((await jobs.list({ limit: 10 })).map((j) => j.sink)).toEqual(['a', 'b']);
  });

  it('leases the oldest due job with a fresh token and logs the attempt', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    expect(job).toMatchObject({ seriesId, sink: 'a', attempt: 1, maxAttempts: 3, payload: {} });
    expect(job.leaseToken).toMatch(/^[0-9a-f-]{36}$/);
    expect(await jobs.get(job.id)).toMatchObject({ state: 'running', attempts: 1, leaseUntil: clock.now() + 30_000 });
    expect(await jobs.attempts(job.id)).toMatchObject([{ attempt: 1, startedAt: clock.now(), outcome: null }]);
    expect(await jobs.claim()).toBeNull();
  });

  it('does not lease a job before its run_at', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    t.db.prepare('UPDATE jobs SET run_at = ?').run(clock.now() + 1_000);
    expect(await jobs.claim()).toBeNull();
    clock.advance(1_000);
    expect(await jobs.claim()).not.toBeNull();
  });

  it('completes a job and marks the series delivered when all its jobs are done', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 3);
    const a = must(await jobs.claim());
    const b = must(await jobs.claim());
    clock.advance(500);
    expect(await jobs.complete(a, 'ok-a')).toBe(true);
    expect(seriesState(t.db, seriesId)).toBe('complete');
    expect(await jobs.complete(b, 'ok-b')).toBe(true);
    expect(seriesState(t.db, seriesId)).toBe('delivered');
    expect(await jobs.get(a.id)).toMatchObject({ state: 'done', receipt: 'ok-a', leaseToken: null });
    expect((await jobs.attempts(a.id))[0]).toMatchObject({ outcome: 'delivered', finishedAt: clock.now() });
    expect(seen).toContainEqual({
      name: 'job.succeeded',
      payload: { jobId: a.id, seriesId, sink: 'a', attempt: 1, durationMs: 500 },
    });
    expect(seen).toContainEqual({
      name: 'series.state',
      payload: { seriesId, from: 'complete', to: 'delivered', batch: 1 },
    });
  });

  it('refuses to complete with a stale lease token', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    expect(await jobs.complete({ ...job, leaseToken: 'not-mine' }, 'x')).toBe(false);
    expect((await jobs.get(job.id))?.state).toBe('running');
  });

  it('extends a held lease and reports a lost one', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    clock.advance(20_000);
    expect(await jobs.heartbeat(job)).toBe(true);
    expect((await jobs.get(job.id))?.leaseUntil).toBe(clock.now() + 30_000);
    expect(await jobs.heartbeat({ ...job, leaseToken: 'other' })).toBe(false);
  });

  it('returns an expired lease to the queue', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    expect(await jobs.reapExpired(clock.now() + 29_999)).toBe(0);
    clock.advance(30_001);
    expect(await jobs.reapExpired()).toBe(1);
    expect(await jobs.get(job.id)).toMatchObject({ state: 'queued', leaseToken: null, attempts: 1 });
    expect((await jobs.attempts(job.id))[0]).toMatchObject({
      outcome: 'lease-expired',
      code: ErrorCode.JOB_LEASE_LOST,
    });
    expect(await jobs.complete(job, 'late')).toBe(false);
    expect((await jobs.claim())?.attempt).toBe(2);
  });

  it('kills a job whose lease expired on its last attempt', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 1);
    const job = must(await jobs.claim());
    clock.advance(60_000);
    await jobs.reapExpired();
    expect(await jobs.get(job.id)).toMatchObject({ state: 'dead', lastCode: ErrorCode.JOB_LEASE_LOST });
    expect(seriesState(t.db, seriesId)).toBe('failed');
  });

  it('requeues a retry at its run_at and records why', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    expect(await jobs.retry(job, { ...failure, runAt: clock.now() + 5_000 })).toBe('queued');
    expect(await jobs.get(job.id)).toMatchObject({
      state: 'queued',
      runAt: clock.now() + 5_000,
      lastCode: ErrorCode.SINK_WRITE,
      lastStage: 'sending',
      lastError: 'ENOSPC',
    });
    expect((await jobs.attempts(job.id))[0]).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.SINK_WRITE,
      error: 'ENOSPC',
    });
    expect(seen.find((e) => e.name === 'job.retrying')?.payload).toMatchObject({
      jobId: job.id,
      runAt: clock.now() + 5_000,
    });
    expect(await jobs.claim()).toBeNull();
    clock.advance(5_000);
    expect((await jobs.claim())?.attempt).toBe(2);
  });

  it('goes dead after max attempts with the reason kept', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 2);
    const first = must(await jobs.claim());
    expect(await jobs.retry(first, { ...failure, runAt: clock.now() })).toBe('queued');
    const second = must(await jobs.claim());
    expect(await jobs.retry(second, { ...failure, error: 'EIO', runAt: clock.now() })).toBe('dead');
    expect(await jobs.get(first.id)).toMatchObject({
      state: 'dead',
      attempts: 2,
      lastCode: ErrorCode.SINK_WRITE,
      lastError: 'EIO',
    });
    expect(seriesState(t.db, seriesId)).toBe('failed');
    expect((await jobs.attempts(first.id)).map((a) => a.outcome)).toEqual(['retry', 'retry']);
    expect(seen).toContainEqual({
      name: 'job.failed',
      payload: {
        jobId: first.id,
        seriesId,
        sink: 'a',
        attempt: 2,
        code: ErrorCode.SINK_WRITE,
        stage: 'sending',
        error: 'EIO',
      },
    });
    const audit = t.db.prepare("SELECT kind, detail FROM events WHERE kind = 'job.dead'").all() as { detail: string }[];
    expect(audit).toHaveLength(1);
  });

  it('kills a rejected job at once and fails its series', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 5);
    const job = must(await jobs.claim());
    expect(await jobs.kill(job, { code: ErrorCode.SINK_INVALID_UID, stage: 'sending', error: 'bad uid' })).toBe(true);
    expect(await jobs.get(job.id)).toMatchObject({ state: 'dead', lastCode: ErrorCode.SINK_INVALID_UID });
    expect((await jobs.attempts(job.id))[0]?.outcome).toBe('rejected');
    expect(seen).toContainEqual({
      name: 'series.state',
      payload: { seriesId, from: 'complete', to: 'failed', batch: 1 },
    });
  });

  it('kills a job with an invalid payload on claim and leases the next one', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 5);
    t.db.prepare("UPDATE jobs SET payload = '{\"x\":1}' WHERE sink = 'a'").run();
    const job = await jobs.claim();
    expect(job?.sink).toBe('b');
    const bad = await jobs.list({ state: 'dead', limit: 5 });
    expect(bad).toMatchObject([{ sink: 'a', lastCode: ErrorCode.JOB_PAYLOAD, lastStage: 'starting' }]);
  });

  it('requeues a dead job with attempts reset and the series back to complete', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 1);
    const job = must(await jobs.claim());
    await jobs.kill(job, failure);
    clock.advance(1_000);
    const again = await jobs.requeue(job.id);
    expect(again).toMatchObject({ state: 'queued', attempts: 0, runAt: clock.now() });
    expect(seriesState(t.db, seriesId)).toBe('complete');
    const audit = t.db.prepare("SELECT detail FROM events WHERE kind = 'job.requeued'").get() as { detail: string };
    expect(JSON.parse(audit.detail)).toEqual({ jobId: job.id, sink: 'a', from: 'dead', by: 'cli' });
    expect((await jobs.claim())?.attempt).toBe(1);
  });

  it('does not requeue a running or finished job', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 1);
    const job = must(await jobs.claim());
    expect(await jobs.requeue(job.id)).toBeNull();
    await jobs.complete(job, 'ok');
    expect(await jobs.requeue(job.id)).toBeNull();
    expect(await jobs.requeue(9999)).toBeNull();
  });

  it('keeps the series failed when another of its jobs is still dead', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 1);
    const a = must(await jobs.claim());
    const b = must(await jobs.claim());
    await jobs.kill(a, failure);
    await jobs.kill(b, failure);
    await jobs.requeue(a.id);
    expect(seriesState(t.db, seriesId)).toBe('failed');
  });

  it('lets an operator fail a queued job, fencing out its worker if running', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 3);
    const running = must(await jobs.claim());
    const queued = must((await jobs.list({ state: 'queued', limit: 1 }))[0]);
    expect(await jobs.failNow(queued.id, 'Wrong project.')).toMatchObject({
      state: 'dead',
      lastCode: ErrorCode.JOB_CANCELLED,
      lastError: 'Wrong project.',
    });
    expect((await jobs.failNow(running.id, 'Stuck.'))?.state).toBe('dead');
    expect(await jobs.complete(running, 'late')).toBe(false);
    expect((await jobs.attempts(running.id))[0]).toMatchObject({ outcome: 'error', code: ErrorCode.JOB_CANCELLED });
    expect(await jobs.failNow(running.id, 'again')).toBeNull();
    expect(seriesState(t.db, seriesId)).toBe('failed');
  });

  it('releases a lease at shutdown without using up an attempt', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a'], 3);
    const job = must(await jobs.claim());
    expect(await jobs.release(job, 'Stopped by shutdown.')).toBe(true);
    expect(await jobs.get(job.id)).toMatchObject({ state: 'queued', attempts: 0, leaseToken: null });
    expect((await jobs.attempts(job.id))[0]).toMatchObject({ outcome: 'lease-expired', code: ErrorCode.SHUTTING_DOWN });
    expect(await jobs.release(job, 'twice')).toBe(false);
  });

  it('returns every running job to the queue after a restart', async () => {
    await jobs.enqueueDeliveries(seriesId, ['a', 'b'], 3);
    await jobs.claim();
    await jobs.claim();
    expect(await jobs.releaseOrphans()).toBe(2);
    expect(await jobs.counts()).toEqual({ queued: 2, running: 0, done: 0, dead: 0 });
  });
});
