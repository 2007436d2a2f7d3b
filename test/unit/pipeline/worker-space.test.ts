// The worker on a full disk: the transforms' work copy and a sink's local copy are reserved above
// the watermark first; a refusal (or an ENOSPC anyway) waits without using up an attempt; a verdict
// SQLite refuses to record (SQLITE_FULL) is recorded once it accepts writes again.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { Delivery, JobContext, SeriesSnapshot, Sink, Transform } from '../../../src/contracts/component.ts';
import { createWorker, type Worker } from '../../../src/pipeline/worker.ts';
import type { JobStore } from '../../../src/store/jobs.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createSnapshotLoader } from '../../../src/series/snapshot.ts';
import { createDiskSpace, type DiskSpace } from '../../../src/spool/disk-space.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, must, type TmpDb } from '../../helpers/series-rows.ts';
import { lifecycleStub } from '../../helpers/sink-stub.ts';

describe('delivery worker and free space', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let workRoot: string;
  let free: number;
  let space: DiskSpace;
  let worker: Worker | null;

  beforeEach(async () => {
    t = createTmpDb();
    clock = createFakeClock();
    workRoot = mkdtempSync(join(tmpdir(), 'xg-work-space-'));
    free = 1e9;
    space = createDiskSpace({ minFreeBytes: 1000, freeBytes: () => free });
    jobs = createJobStore(t.db, clock, { events: createEvents() });
    const seriesId = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
    insertInstance(t.db, seriesId, { sopInstanceUid: '1.2.3', path: 'x/1.dcm', size: 5000 });
    await jobs.enqueueDeliveries(seriesId, ['fake'], 3);
    worker = null;
  });
  afterEach(async () => {
    await worker?.stop({ deadlineMs: 0 });
    t.cleanup();
    rmSync(workRoot, { recursive: true, force: true });
  });

  function start(sink: Sink, transforms: Transform[] = [], store: JobStore = jobs): Worker {
    worker = createWorker({
      jobs: store,
      clock,
      events: createEvents(),
      log: createLogger('silent'),
      concurrency: 1,
      leaseMs: 30_000,
      pollIntervalMs: 1_000,
      sinks: new Map([['fake', sink]]),
      transforms,
      loadSnapshot: createSnapshotLoader(t.db, join(t.dir, 'spool')),
      workRoot,
      backoff: { baseMs: 1_000, maxMs: 60_000 },
      reserveSpace: (dir, bytes) => space.reserve(dir, bytes),
    });
    worker.start();
    return worker;
  }
  const sink = (deliver: (s: SeriesSnapshot, ctx: JobContext) => Promise<Delivery>): Sink & { calls: number } => {
    const s = {
      id: 'fake',
      calls: 0,
      ...lifecycleStub,
      healthcheck: () => Promise.resolve(),
      deliver: (x: SeriesSnapshot, c: JobContext) => {
        s.calls++;
        return deliver(x, c);
      },
    };
    return s;
  };
  const delivered = (): Promise<Delivery> => Promise.resolve({ outcome: 'delivered', receipt: 'ok' });
  const noop: Transform = { ...lifecycleStub, id: 'noop', apply: (s) => Promise.resolve(s) };
  const job = async () => must((await jobs.list({ limit: 1 }))[0]);

  it('reserves the work copy before the transforms run; without room the job waits, its attempt given back', async () => {
    free = 1000 + 4999; // the 5000 B series does not fit above the 1000 B watermark
    let ran = 0;
    const s = sink(delivered);
    const w = start(s, [
      {
        ...lifecycleStub,
        id: 't',
        apply: (x) => {
          ran++;
          return Promise.resolve(x);
        },
      },
    ]);
    await w.onIdle();
    expect(await job()).toMatchObject({ state: 'queued', attempts: 0, lastCode: ErrorCode.SPOOL_FULL });
    expect(ran).toBe(0);
    expect(s.calls).toBe(0);
    expect(existsSync(join(workRoot, `${String((await job()).id)}-1`))).toBe(false);
    // Space back: the next poll delivers it, and nothing stays reserved.
    free = 1e9;
    clock.advance(2_000);
    await w.onIdle();
    expect(await job()).toMatchObject({ state: 'done' });
    expect(space.reading(workRoot).reservedBytes).toBe(0);
  });

  it('lends sinks reserveSpace; a refusal is a retry that does not use up an attempt', async () => {
    const s = sink((_x, ctx) =>
      Promise.resolve(
        ctx.reserveSpace?.(workRoot, 2e9)
          ? { outcome: 'delivered', receipt: 'ok' }
          : { outcome: 'retry', code: ErrorCode.SPOOL_FULL, reason: 'no room in the outbox' },
      ),
    );
    const w = start(s, [noop]);
    await w.onIdle();
    for (let i = 0; i < 4; i++) {
      clock.advance(2_000);
      await w.onIdle();
    }
    expect(await job()).toMatchObject({ state: 'queued', attempts: 0, lastCode: ErrorCode.SPOOL_FULL });
    expect(s.calls).toBeGreaterThanOrEqual(3);
  });

  it('treats ENOSPC thrown by a transform or sink as waiting for space, not as a failed attempt', async () => {
    const s = sink(() =>
      Promise.reject(Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' })),
    );
    const w = start(s);
    await w.onIdle();
    expect(await job()).toMatchObject({ state: 'queued', attempts: 0, lastCode: ErrorCode.SPOOL_FULL });
  });

  it('records a verdict SQLite refused (SQLITE_FULL) once it accepts writes again', async () => {
    let refusals = 2;
    const flaky: JobStore = {
      ...jobs,
      complete(...args) {
        if (refusals-- > 0) {
          return Promise.reject(Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' }));
        }
        return jobs.complete(...args);
      },
    };
    const w = start(sink(delivered), [], flaky);
    // The job stays leased (running) while its verdict waits; each second it is offered again.
    for (let i = 0; i < 50 && (await job()).state === 'running'; i++) {
      await new Promise((r) => setTimeout(r, 10));
      clock.advance(1_000);
    }
    await w.onIdle();
    expect(refusals).toBeLessThan(0);
    expect(await job()).toMatchObject({ state: 'done', receipt: 'ok' });
  });
});
