import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DaemonError, ErrorCode } from '../../../src/errors.ts';
import { createEvents, type DaemonEventMap } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { Delivery, JobContext, SeriesSnapshot, Sink, Transform } from '../../../src/contracts/component.ts';
import { createWorker, type Worker } from '../../../src/pipeline/worker.ts';
import type { JobStore } from '../../../src/store/jobs.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createSnapshotLoader } from '../../../src/series/snapshot.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, must, seriesState, type TmpDb } from '../../helpers/series-rows.ts';
import { lifecycleStub } from '../../helpers/sink-stub.ts';

type Behaviour = (s: SeriesSnapshot, ctx: JobContext) => Promise<Delivery>;

/** A sink that runs the next queued behaviour per delivery (the last one repeats). */
function fakeSink(...behaviours: Behaviour[]): Sink & { calls: JobContext[] } {
  const calls: JobContext[] = [];
  return {
    id: 'fake',
    calls,
    ...lifecycleStub,
    healthcheck: () => Promise.resolve(),
    deliver(s, ctx) {
      calls.push(ctx);
      const b = (behaviours.length > 1 ? behaviours.shift() : behaviours[0]) ?? delivered;
      return b(s, ctx);
    },
  };
}

const delivered: Behaviour = (s) =>
  Promise.resolve({ outcome: 'delivered', receipt: `n=${String(s.instances.length)}` });

/** A delivery that waits until released by the test, or resolves 'retry' when its signal aborts. */
function gate(): { behaviour: Behaviour; entered: Promise<void>; release: (d: Delivery) => void } {
  let release!: (d: Delivery) => void;
  let enter!: () => void;
  const entered = new Promise<void>((r) => {
    enter = r;
  });
  const behaviour: Behaviour = (_s, ctx) =>
    new Promise<Delivery>((resolve) => {
      release = resolve;
      ctx.signal.addEventListener('abort', () => {
        resolve({ outcome: 'retry', reason: 'aborted' });
      });
      enter();
    });
  return {
    behaviour,
    entered,
    release: (d) => {
      release(d);
    },
  };
}

describe('delivery worker', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let workRoot: string;
  let seen: { name: string; payload: unknown }[];
  let seriesId: number;
  let worker!: Worker;
  let built: Worker[];
  let events: ReturnType<typeof createEvents>;

  function build(sink: Sink, o: { transforms?: Transform[]; concurrency?: number } = {}): Worker {
    worker = createWorker({
      jobs,
      clock,
      events,
      log: createLogger('silent'),
      concurrency: o.concurrency ?? 2,
      leaseMs: 30_000,
      pollIntervalMs: 1_000,
      sinks: new Map([['fake', sink]]),
      transforms: o.transforms ?? [],
      loadSnapshot: createSnapshotLoader(t.db, join(t.dir, 'spool')),
      workRoot,
      backoff: { baseMs: 1_000, maxMs: 60_000 },
    });
    built.push(worker);
    return worker;
  }

  const job = async () => must((await jobs.list({ limit: 10 }))[0]);

  beforeEach(async () => {
    t = createTmpDb();
    clock = createFakeClock();
    workRoot = mkdtempSync(join(tmpdir(), 'xg-work-'));
    seen = [];
    built = [];
    events = createEvents();
    for (const name of ['job.succeeded', 'job.retrying', 'job.failed'] as const) {
      events.on(name, (payload: DaemonEventMap[typeof name]) => {
        seen.push({ name, payload });
      });
    }
    jobs = createJobStore(t.db, clock, { events });
    seriesId = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
    insertInstance(t.db, seriesId, { sopInstanceUid: '1.2.3', path: 'x/1.dcm' });
    await jobs.enqueueDeliveries(seriesId, ['fake'], 3);
  });
  afterEach(async () => {
    for (const w of built) {
      await w.stop({ deadlineMs: 0 });
    }
    t.cleanup();
    rmSync(workRoot, { recursive: true, force: true });
  });

  it('delivers a job, marks the series delivered and removes its work directory', async () => {
    let workDirSeen = false;
    const sink = fakeSink(async (s, ctx) => {
      workDirSeen = existsSync(ctx.workDir);
      return delivered(s, ctx);
    });
    build(sink).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({ state: 'done', receipt: 'n=1' });
    expect(seriesState(t.db, seriesId)).toBe('delivered');
    expect(workDirSeen).toBe(true);
    expect(sink.calls[0]).toMatchObject({ jobId: (await job()).id, attempt: 1 });
    expect(readdirSync(workRoot)).toEqual([]);
    expect(seen.map((e) => e.name)).toEqual(['job.succeeded']);
  });

  it('runs transforms in order before the sink', async () => {
    const order: string[] = [];
    const tf = (id: string): Transform => ({
      ...lifecycleStub,
      id,
      apply: (s) => {
        order.push(id);
        return Promise.resolve(s);
      },
    });
    const sink = fakeSink((s, ctx) => {
      order.push('sink');
      return delivered(s, ctx);
    });
    build(sink, { transforms: [tf('route'), tf('anonymise')] }).start();
    await worker.onIdle();
    expect(order).toEqual(['route', 'anonymise', 'sink']);
  });

  it('retries after the delay the sink asks for, then delivers', async () => {
    const sink = fakeSink(() => Promise.resolve({ outcome: 'retry', reason: 'busy', afterMs: 5_000 }), delivered);
    build(sink).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({
      state: 'queued',
      runAt: clock.now() + 5_000,
      lastCode: ErrorCode.SINK_RETRY,
      lastError: 'busy',
    });
    clock.advance(4_999);
    await worker.onIdle();
    expect(sink.calls).toHaveLength(1);
    clock.advance(1_000);
    await worker.onIdle();
    expect(sink.calls).toHaveLength(2);
    expect(await job()).toMatchObject({ state: 'done', attempts: 2 });
  });

  it('backs off with jitter when the sink gives no delay', async () => {
    build(fakeSink(() => Promise.resolve({ outcome: 'retry', reason: 'down' }))).start();
    await worker.onIdle();
    const { runAt } = await job();
    expect(runAt).toBeGreaterThanOrEqual(clock.now() + 500);
    expect(runAt).toBeLessThanOrEqual(clock.now() + 1_000);
  });

  it('fails the job after its last attempt', async () => {
    t.db.prepare('UPDATE jobs SET max_attempts = 1').run();
    build(fakeSink(() => Promise.resolve({ outcome: 'retry', reason: 'still down' }))).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({ state: 'dead', lastError: 'still down' });
    expect(seriesState(t.db, seriesId)).toBe('failed');
    expect(seen.map((e) => e.name)).toEqual(['job.failed']);
  });

  it('fails a rejected job at once with its code', async () => {
    build(
      fakeSink(() => Promise.resolve({ outcome: 'rejected', code: ErrorCode.SINK_INVALID_UID, reason: 'bad uid' })),
    ).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({
      state: 'dead',
      attempts: 1,
      lastCode: ErrorCode.SINK_INVALID_UID,
      lastStage: 'sending',
    });
    expect((await jobs.attempts((await job()).id))[0]?.outcome).toBe('rejected');
  });

  it('retries a thrown error as unexpected, recording the stage it happened in', async () => {
    const boom: Transform = { ...lifecycleStub, id: 'route', apply: () => Promise.reject(new Error('bug')) };
    build(fakeSink(delivered), { transforms: [boom] }).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({
      state: 'queued',
      lastCode: ErrorCode.JOB_UNEXPECTED,
      lastStage: 'transforming',
      lastError: 'Error: bug',
    });
    expect((await jobs.attempts((await job()).id))[0]?.outcome).toBe('error');
  });

  it('fails at once on a non-retryable DaemonError, keeping its code and stage', async () => {
    const err = new DaemonError(ErrorCode.SERIES_MISSING_FILE, 'gone', { stage: 'sending', retryable: false });
    build(fakeSink(() => Promise.reject(err))).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({ state: 'dead', lastCode: ErrorCode.SERIES_MISSING_FILE, lastStage: 'sending' });
  });

  it('fails a job whose sink is no longer configured', async () => {
    t.db.prepare("UPDATE jobs SET sink = 'gone'").run();
    build(fakeSink(delivered)).start();
    await worker.onIdle();
    expect(await job()).toMatchObject({ state: 'dead', lastCode: ErrorCode.CONFIG_INVALID });
  });

  it('caps concurrency and claims when notified', async () => {
    const a = gate();
    const s2 = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
    build(fakeSink(a.behaviour, delivered), { concurrency: 1 }).start();
    await a.entered;
    await jobs.enqueueDeliveries(s2, ['fake'], 3);
    worker.notify();
    expect(worker.active).toBe(1);
    a.release({ outcome: 'delivered', receipt: 'a' });
    await worker.onIdle();
    expect(await jobs.counts()).toMatchObject({ done: 2, running: 0 });
  });

  it('renews the lease while a delivery runs and drops the outcome once the lease is lost', async () => {
    const g = gate();
    build(fakeSink(g.behaviour)).start();
    await g.entered;
    clock.advance(10_000);
    expect((await job()).leaseUntil).toBe(clock.now() + 30_000);
    await jobs.failNow((await job()).id, 'Operator gave up.');
    clock.advance(10_000);
    await worker.onIdle();
    expect(await job()).toMatchObject({ state: 'dead', lastCode: ErrorCode.JOB_CANCELLED });
  });

  it('waits for running jobs on stop, then releases the unfinished ones at the deadline', async () => {
    const g = gate();
    build(fakeSink(g.behaviour)).start();
    await g.entered;
    let stopped = false;
    const stopping = worker.stop({ deadlineMs: 5_000 }).then(() => {
      stopped = true;
    });
    clock.advance(4_999);
    await Promise.resolve();
    expect(stopped).toBe(false);
    clock.advance(1);
    await stopping;
    expect(await job()).toMatchObject({ state: 'queued', attempts: 0, leaseToken: null });
    expect((await jobs.attempts((await job()).id))[0]).toMatchObject({
      outcome: 'lease-expired',
      code: ErrorCode.SHUTTING_DOWN,
    });
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('completes a job that finishes before the stop deadline', async () => {
    const g = gate();
    build(fakeSink(g.behaviour)).start();
    await g.entered;
    const stopping = worker.stop({ deadlineMs: 5_000 });
    g.release({ outcome: 'delivered', receipt: 'ok' });
    await stopping;
    expect((await job()).state).toBe('done');
    expect(clock.pending).toBe(0);
  });
});
