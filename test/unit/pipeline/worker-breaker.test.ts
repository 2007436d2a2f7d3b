import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { createBreakers, type Breakers } from '../../../src/resilience/breaker.ts';
import type { Delivery, Sink } from '../../../src/contracts/component.ts';
import { createWorker, type Worker } from '../../../src/pipeline/worker.ts';
import type { JobStore } from '../../../src/store/jobs.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createSnapshotLoader } from '../../../src/series/snapshot.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, type TmpDb } from '../../helpers/series-rows.ts';
import { lifecycleStub } from '../../helpers/sink-stub.ts';

const down: Delivery = {
  outcome: 'retry',
  code: ErrorCode.XNAT_UNAVAILABLE,
  sinkFault: 'unavailable',
  reason: 'connect ECONNREFUSED',
};
const refused: Delivery = {
  outcome: 'retry',
  code: ErrorCode.XNAT_AUTH,
  sinkFault: 'auth',
  reason: 'XNAT refused the credentials of user "gw" (HTTP 401).',
};

/** A sink whose answer the test switches; it counts calls and never runs two at once unnoticed. */
function switchable(): Sink & { answer: Delivery; calls: number; maxConcurrent: number } {
  let running = 0;
  const s = {
    id: 'xnat-rest',
    answer: down,
    calls: 0,
    maxConcurrent: 0,
    ...lifecycleStub,
    healthcheck: () => Promise.resolve(),
    async deliver(): Promise<Delivery> {
      s.calls++;
      running++;
      s.maxConcurrent = Math.max(s.maxConcurrent, running);
      await Promise.resolve();
      running--;
      return s.answer;
    },
  };
  return s;
}

describe('worker with a circuit breaker', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let workRoot: string;
  let breakers: Breakers;
  let worker: Worker;
  let sink: ReturnType<typeof switchable>;

  const settle = async (): Promise<void> => {
    for (let i = 0; i < 5; i++) {
      worker.notify();
      await worker.onIdle();
    }
  };

  beforeEach(async () => {
    t = createTmpDb();
    clock = createFakeClock();
    workRoot = mkdtempSync(join(tmpdir(), 'xg-work-'));
    jobs = createJobStore(t.db, clock, { maxAgeMs: 3_600_000 });
    for (let i = 0; i < 5; i++) {
      const id = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
      insertInstance(t.db, id, { sopInstanceUid: `1.2.${String(i)}`, path: `x/${String(i)}.dcm` });
      await jobs.enqueueDeliveries(id, ['xnat-rest'], 3);
    }
    breakers = createBreakers(['xnat-rest'], { failureThreshold: 2, openMs: 10_000, maxOpenMs: 60_000 }, clock);
    sink = switchable();
    worker = createWorker({
      jobs,
      clock,
      events: createEvents(),
      log: createLogger('silent'),
      concurrency: 3,
      leaseMs: 30_000,
      pollIntervalMs: 1_000,
      sinks: new Map([['xnat-rest', sink]]),
      transforms: [],
      loadSnapshot: createSnapshotLoader(t.db, join(t.dir, 'spool')),
      workRoot,
      backoff: { baseMs: 1_000, maxMs: 1_000 },
      breakers,
    });
  });
  afterEach(async () => {
    await worker.stop({ deadlineMs: 0 });
    t.cleanup();
    rmSync(workRoot, { recursive: true, force: true });
  });

  it('stops sending to a dead target, probes once at a time, and keeps every attempt', async () => {
    worker.start();
    await settle();
    // The first claims (up to the concurrency) failed; then the circuit opened and nothing more ran.
    expect(sink.calls).toBe(3);
    expect(breakers.status()[0]?.state).toBe('open');
    const queued = await jobs.list({ state: 'queued', limit: 10 });
    expect(queued).toHaveLength(5);
    // The failures that opened the circuit are refunded, so a weekend outage uses no attempts.
    expect(queued.filter((j) => j.attempts > 0).length).toBeLessThanOrEqual(2);
    for (let i = 0; i < 3; i++) {
      clock.advance(120_000);
      await settle();
    }
    // Each due probe ran alone and failed: three more calls, never two at once.
    expect(sink.calls).toBe(6);
    expect(await jobs.list({ state: 'dead', limit: 10 })).toEqual([]);
    expect(must((await jobs.list({ state: 'queued', limit: 10 }))[0]).lastCode).toBe(ErrorCode.XNAT_UNAVAILABLE);

    sink.answer = { outcome: 'delivered', receipt: '/data/archive/projects/P/subjects/S/experiments/E' };
    clock.advance(120_000);
    await settle();
    expect(breakers.status()[0]?.state).toBe('closed');
    expect(await jobs.counts()).toMatchObject({ done: 5, queued: 0, dead: 0 });
  });

  it('holds every series at once when XNAT refuses the credentials', async () => {
    sink.answer = refused;
    worker.start();
    await settle();
    expect(breakers.status()[0]).toMatchObject({ state: 'open', lastCode: ErrorCode.XNAT_AUTH });
    expect(await jobs.counts()).toMatchObject({ queued: 5, dead: 0 });
    expect((await jobs.list({ state: 'queued', limit: 10 })).some((j) => j.lastCode === ErrorCode.XNAT_AUTH)).toBe(
      true,
    );
  });

  it('gives up after the maximum age, naming the last error', async () => {
    worker.start();
    await settle();
    clock.advance(3_600_000);
    await settle();
    const dead = await jobs.list({ state: 'dead', limit: 10 });
    expect(dead).toHaveLength(1);
    expect(dead[0]).toMatchObject({ lastCode: ErrorCode.JOB_TOO_OLD });
    expect(dead[0]?.lastError).toMatch(
      /^Still failing 60 min after it was queued \(workers.maxAgeMs\); last error: connect ECONNREFUSED$/,
    );
  });
});

function must<T>(v: T | undefined): T {
  if (v === undefined) {
    throw new Error('missing');
  }
  return v;
}
