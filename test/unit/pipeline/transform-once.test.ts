// Transforms run once per series batch: a series delivered to two sinks is de-identified once, and
// both sink jobs read the same copy from the batch's work folder, which goes with the last job.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Delivery, JobContext, SeriesSnapshot, Sink, Transform } from '../../../src/contracts/component.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { createTransformOnce } from '../../../src/pipeline/transform-once.ts';
import { createWorker, type Worker } from '../../../src/pipeline/worker.ts';
import { createSnapshotLoader } from '../../../src/series/snapshot.ts';
import type { JobStore } from '../../../src/store/jobs.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, seriesState, type TmpDb } from '../../helpers/series-rows.ts';
import { lifecycleStub } from '../../helpers/sink-stub.ts';

/** A transform that writes one file per instance into its work folder, counting its runs. */
function copying(): Transform & { runs: number } {
  const t = {
    id: 'anonymise',
    ...lifecycleStub,
    runs: 0,
    async apply(s: SeriesSnapshot, ctx: JobContext): Promise<SeriesSnapshot> {
      t.runs++;
      const instances = [];
      for (const i of s.instances) {
        const path = join(ctx.workDir, `${String(i.instanceId)}.dcm`);
        await writeFile(path, `de-identified ${i.sopInstanceUid}`);
        instances.push({ ...i, path });
      }
      return { ...s, instances };
    },
  };
  return t;
}

/** A sink recording what it was given to deliver (the file contents, read during delivery). */
function reading(id: string, answer: Delivery = { outcome: 'delivered', receipt: id }): Sink & { got: string[] } {
  const got: string[] = [];
  return {
    id,
    got,
    ...lifecycleStub,
    healthcheck: () => Promise.resolve(),
    deliver(s) {
      for (const i of s.instances) {
        got.push(readFileSync(i.path, 'utf8'));
      }
      return Promise.resolve(answer);
    },
  };
}

describe('transforms once per series batch', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let workRoot: string;
  let seriesId: number;
  let workers: Worker[];

  beforeEach(async () => {
    t = createTmpDb();
    clock = createFakeClock();
    workRoot = mkdtempSync(join(tmpdir(), 'xg-work-once-'));
    workers = [];
    jobs = createJobStore(t.db, clock, {});
    seriesId = insertSeries(t.db, { lastInstanceAt: clock.now(), state: 'complete' });
    insertInstance(t.db, seriesId, { sopInstanceUid: '1.2.3.1', path: 'x/1.dcm', size: 10 });
    insertInstance(t.db, seriesId, { sopInstanceUid: '1.2.3.2', path: 'x/2.dcm', size: 10 });
    await jobs.enqueueDeliveries(seriesId, ['rest', 'dimse'], 3);
  });
  afterEach(async () => {
    for (const w of workers) {
      await w.stop({ deadlineMs: 0 });
    }
    t.cleanup();
    rmSync(workRoot, { recursive: true, force: true });
  });

  function start(sinks: Sink[], transform: Transform, concurrency: number): Worker {
    const w = createWorker({
      jobs,
      clock,
      events: createEvents(),
      log: createLogger('silent'),
      concurrency,
      leaseMs: 30_000,
      pollIntervalMs: 1_000,
      sinks: new Map(sinks.map((s) => [s.id, s])),
      transforms: [transform],
      loadSnapshot: createSnapshotLoader(t.db, join(t.dir, 'spool')),
      workRoot,
      backoff: { baseMs: 1_000, maxMs: 60_000 },
    });
    workers.push(w);
    w.start();
    return w;
  }

  for (const concurrency of [1, 2]) {
    it(`de-identifies a series with two sinks once (${concurrency === 1 ? 'one job after the other' : 'both jobs at once'})`, async () => {
      const tf = copying();
      const rest = reading('rest');
      const dimse = reading('dimse');
      const w = start([rest, dimse], tf, concurrency);
      await w.onIdle();
      expect(tf.runs).toBe(1);
      expect(w.transformRuns()).toBe(1);
      expect(rest.got).toEqual(['de-identified 1.2.3.1', 'de-identified 1.2.3.2']);
      expect(dimse.got).toEqual(rest.got);
      expect(seriesState(t.db, seriesId)).toBe('delivered');
      // The batch's copy went with its last job.
      expect(readdirSync(workRoot)).toEqual([]);
    });
  }

  it('keeps the copy while a sink job of the batch will retry, and reuses it for that retry', async () => {
    const tf = copying();
    const rest = reading('rest');
    let first = true;
    const dimse: Sink & { got: string[] } = {
      ...reading('dimse'),
      deliver(s) {
        dimse.got.push(...s.instances.map((i) => readFileSync(i.path, 'utf8')));
        const answer: Delivery = first
          ? { outcome: 'retry', reason: 'XNAT busy', afterMs: 5_000 }
          : { outcome: 'delivered', receipt: 'dimse' };
        first = false;
        return Promise.resolve(answer);
      },
    };
    const w = start([rest, dimse], tf, 1);
    await w.onIdle();
    expect(readdirSync(workRoot).filter((n) => n.startsWith(`series-${String(seriesId)}-`))).toHaveLength(1);
    clock.advance(6_000);
    await w.onIdle();
    expect(tf.runs).toBe(1);
    expect(dimse.got).toHaveLength(4);
    expect(seriesState(t.db, seriesId)).toBe('delivered');
    expect(readdirSync(workRoot)).toEqual([]);
  });

  it('transforms a batch again when its input changes (released from quarantine to another project)', async () => {
    const tf = copying();
    const once = createTransformOnce({ workRoot, transforms: [tf] });
    const snapshot = await createSnapshotLoader(t.db, join(t.dir, 'spool'))(seriesId);
    const ctx = (jobId: number): JobContext => ({
      log: createLogger('silent'),
      clock,
      events: createEvents(),
      jobId,
      attempt: 1,
      workDir: join(workRoot, 'unused'),
      signal: new AbortController().signal,
    });
    const quarantine = await once.get({ ...snapshot, project: 'QUARANTINE' }, ctx(1));
    expect(await once.get({ ...snapshot, project: 'QUARANTINE' }, ctx(2))).toEqual(quarantine);
    expect(tf.runs).toBe(1);
    const hospital = await once.get({ ...snapshot, project: 'KCL' }, ctx(3));
    expect(tf.runs).toBe(2);
    expect(hospital).not.toEqual(quarantine);
    await once.discard(seriesId);
    expect(readdirSync(workRoot)).toEqual([]);
  });
});
