// Which originals the spool keeps: removed once delivered and verified in the final (hospital)
// project, kept while quarantined, waiting, failed or undelivered, kept as a capped local copy in
// keep mode, discarded by an administrator with a reason.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents, type DaemonEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { discardSeries } from '../../../src/pipeline/discard.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createOriginalsStore } from '../../../src/store/sqlite/originals.ts';
import type { OriginalsStore } from '../../../src/store/originals.ts';
import { createRouteStore } from '../../../src/store/sqlite/routes.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';
import { createDiskSpace } from '../../../src/spool/disk-space.ts';
import { createRetention } from '../../../src/spool/retention.ts';
import type { Config } from '../../../src/config/schema.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, type TmpDb } from '../../helpers/series-rows.ts';

type Policy = Config['spool']['retainDelivered'];

describe('spool retention and discard', () => {
  let t: TmpDb;
  let spoolDir: string;
  let clock: FakeClock;
  let events: DaemonEvents;
  let originals: OriginalsStore;
  let free: number;

  beforeEach(() => {
    t = createTmpDb();
    spoolDir = join(t.dir, 'spool');
    clock = createFakeClock();
    events = createEvents();
    originals = createOriginalsStore(t.db);
    free = 1e12;
  });
  afterEach(() => {
    t.cleanup();
  });

  /** A series batch with `n` spool files of `size` bytes, in `state`, routed to `target` (or not routed). */
  function batch(o: {
    state: string;
    target?: 'hospital' | 'quarantine';
    routeState?: 'routed' | 'waiting';
    n?: number;
    size?: number;
  }): { id: number; files: string[] } {
    const id = insertSeries(t.db, { lastInstanceAt: 0, state: o.state });
    const files: string[] = [];
    const n = o.n ?? 2;
    const size = o.size ?? 100;
    for (let i = 0; i < n; i++) {
      const rel = join('objects', 'aa', `${String(id)}-${String(i)}.dcm`);
      mkdirSync(join(spoolDir, 'objects', 'aa'), { recursive: true });
      writeFileSync(join(spoolDir, rel), Buffer.alloc(size, 1));
      insertInstance(t.db, id, { sopInstanceUid: `1.2.${String(id)}.${String(i)}`, path: rel, size });
      files.push(join(spoolDir, rel));
    }
    t.db.prepare('UPDATE series SET instance_count = ?, byte_count = ? WHERE id = ?').run(n, n * size, id);
    if (o.target) {
      t.db
        .prepare(
          `INSERT INTO series_routes (series_id, state, target, project, rules_hash, decided_at) VALUES (?, ?, ?, ?, 'h', 0)`,
        )
        .run(id, o.routeState ?? 'routed', o.target, o.target === 'hospital' ? 'HOSPITAL' : 'QUARANTINE');
    }
    return { id, files };
  }

  const retention = (policy: Policy = 0) =>
    createRetention({
      originals,
      spoolDir,
      policy,
      space: createDiskSpace({ minFreeBytes: 1000, freeBytes: () => free }),
      clock,
      events,
      log: createLogger('silent'),
      checkIntervalMs: 1000,
    });
  const present = (files: string[]): boolean[] => files.map((f) => existsSync(f));

  it('removes the originals of a batch delivered to the hospital project, and keeps every other batch', async () => {
    const delivered = batch({ state: 'delivered', target: 'hospital' });
    const quarantined = batch({ state: 'delivered', target: 'quarantine' });
    const waiting = batch({ state: 'complete', target: 'hospital', routeState: 'waiting' });
    const failed = batch({ state: 'failed', target: 'hospital' });
    const pending = batch({ state: 'complete', target: 'hospital' });
    const receiving = batch({ state: 'receiving' });
    const r = await retention().recover();
    expect(r).toEqual({ removed: 1, retained: 0, finished: 0 });
    expect(present(delivered.files)).toEqual([false, false]);
    for (const b of [quarantined, waiting, failed, pending, receiving]) {
      expect(present(b.files)).toEqual([true, true]);
    }
    expect(await originals.get(delivered.id)).toMatchObject({
      state: 'removed',
      reason: 'delivered',
      files: 2,
      bytes: 200,
      pendingDelete: false,
    });
    // The instance rows stay (audit, and a re-sent copy is still recognised as a duplicate).
    expect(t.db.prepare('SELECT count(*) FROM instances WHERE series_id = ?').pluck().get(delivered.id)).toBe(2);
  });

  it('settles at stop what was delivered just before it', async () => {
    const r = retention();
    r.start();
    const a = batch({ state: 'delivered', target: 'hospital' });
    const b = batch({ state: 'delivered', target: 'hospital' });
    events.emit('series.state', { seriesId: a.id, from: 'complete', to: 'delivered', batch: 1 });
    // b arrives while a's removal is under way; the stop comes before the next check.
    await new Promise((resolve) => setImmediate(resolve));
    events.emit('series.state', { seriesId: b.id, from: 'complete', to: 'delivered', batch: 1 });
    await r.stop();
    expect([...present(a.files), ...present(b.files)]).toEqual([false, false, false, false]);
  });

  it('follows deliveries as they happen', async () => {
    const r = retention();
    r.start();
    const b = batch({ state: 'delivered', target: 'hospital' });
    events.emit('series.state', { seriesId: b.id, from: 'complete', to: 'delivered', batch: 1 });
    await r.tick();
    expect(present(b.files)).toEqual([false, false]);
    await r.stop();
  });

  it('shows what the spool holds and why', async () => {
    batch({ state: 'delivered', target: 'hospital', n: 1 });
    batch({ state: 'delivered', target: 'quarantine', n: 3 });
    batch({ state: 'complete', target: 'hospital', routeState: 'waiting', n: 1 });
    batch({ state: 'failed', target: 'hospital', n: 1 });
    batch({ state: 'complete', target: 'hospital', n: 2 });
    batch({ state: 'receiving', n: 1 });
    const before = await originals.holdings();
    expect(before.deliveredToRemove).toEqual({ series: 1, files: 1, bytes: 100 });
    expect(before.quarantined).toEqual({ series: 1, files: 3, bytes: 300 });
    expect(before.waitingForImages.series).toBe(1);
    expect(before.failed.series).toBe(1);
    expect(before.awaitingDelivery).toEqual({ series: 1, files: 2, bytes: 200 });
    expect(before.receiving.series).toBe(1);
    await retention().recover();
    expect((await originals.holdings()).deliveredToRemove.series).toBe(0);
  });

  it('keeps delivered originals as a local copy within the size cap, the oldest delivered going first', async () => {
    const a = batch({ state: 'delivered', target: 'hospital', size: 400 });
    await retention({ mode: 'keep', maxBytes: 1000, maxAgeMs: null }).recover();
    expect((await originals.get(a.id))?.state).toBe('retained');
    clock.advance(1000);
    const b = batch({ state: 'delivered', target: 'hospital', size: 400 });
    const r = retention({ mode: 'keep', maxBytes: 1000, maxAgeMs: null });
    await r.recover();
    // 800 + 800 bytes kept > 1000: the older copy goes.
    expect(await originals.get(a.id)).toMatchObject({ state: 'removed', reason: 'retention-cap' });
    expect(present(a.files)).toEqual([false, false]);
    expect((await originals.get(b.id))?.state).toBe('retained');
    expect(present(b.files)).toEqual([true, true]);
    expect((await originals.holdings()).retained).toEqual({ series: 1, files: 2, bytes: 800 });
  });

  it('removes kept copies past their age, and first of all when the disk is below the watermark', async () => {
    const a = batch({ state: 'delivered', target: 'hospital' });
    const r = retention({ mode: 'keep', maxBytes: 1e9, maxAgeMs: 3_600_000 });
    await r.recover();
    expect((await originals.get(a.id))?.state).toBe('retained');
    clock.advance(3_600_000);
    await r.tick();
    expect(await originals.get(a.id)).toMatchObject({ state: 'removed', reason: 'retention-age' });

    const b = batch({ state: 'delivered', target: 'hospital' });
    const r2 = retention({ mode: 'keep', maxBytes: 1e9, maxAgeMs: null });
    await r2.recover();
    free = 500; // below the 1000 B watermark
    await r2.tick();
    expect(await originals.get(b.id)).toMatchObject({ state: 'removed', reason: 'disk-space' });
  });

  describe('discard', () => {
    const deps = () => ({
      db: t.db,
      uow: sqliteUnitOfWork(t.db),
      jobs: createJobStore(t.db, clock),
      routes: createRouteStore(t.db),
      originals,
      clock,
      spoolDir,
      events,
    });

    it('deletes the originals of a quarantined batch, cancels its queued jobs and audits who and why', async () => {
      const b = batch({ state: 'complete', target: 'quarantine' });
      const jobs = createJobStore(t.db, clock);
      await jobs.enqueueDeliveries(b.id, ['folder'], 5);
      const seen: number[] = [];
      events.on('series.discarded', (e) => seen.push(e.seriesId));
      const r = await discardSeries(deps(), b.id, 'alice', 'burned-in name; not for research');
      expect(r).toEqual({ ok: true, seriesId: b.id, files: 2, bytes: 200, jobsCancelled: 1 });
      expect(present(b.files)).toEqual([false, false]);
      expect(await originals.get(b.id)).toMatchObject({
        state: 'discarded',
        by: 'alice',
        reason: 'burned-in name; not for research',
        pendingDelete: false,
      });
      expect((await jobs.list({ limit: 10 }))[0]).toMatchObject({
        state: 'dead',
        lastCode: 'ERR_JOB_CANCELLED',
        lastError: 'Discarded by alice: burned-in name; not for research',
      });
      const audit = t.db.prepare(`SELECT detail FROM events WHERE kind = 'series.discarded'`).pluck().get() as string;
      expect(JSON.parse(audit)).toMatchObject({ by: 'alice', files: 2, jobsCancelled: 1 });
      expect(seen).toEqual([b.id]);
      // Nothing can send it again: requeue of its job is refused.
      expect(await jobs.requeue((await jobs.list({ limit: 1 }))[0]?.id ?? 0)).toBeNull();
    });

    it('refuses a batch still receiving, one not routed yet, one with a delivery running, one already gone, and an unknown one', async () => {
      expect(await discardSeries(deps(), 999, 'a', 'x')).toMatchObject({ ok: false, status: 404 });
      const receiving = batch({ state: 'receiving' });
      expect(await discardSeries(deps(), receiving.id, 'a', 'x')).toMatchObject({
        ok: false,
        status: 409,
        message: expect.stringContaining('still receiving') as unknown,
      });
      const unrouted = batch({ state: 'complete' });
      expect(await discardSeries(deps(), unrouted.id, 'a', 'x')).toMatchObject({ ok: false, status: 409 });
      const running = batch({ state: 'complete', target: 'hospital' });
      const jobs = createJobStore(t.db, clock);
      await jobs.enqueueDeliveries(running.id, ['folder'], 5);
      expect(await jobs.claim()).not.toBeNull();
      expect(await discardSeries(deps(), running.id, 'a', 'x')).toMatchObject({
        ok: false,
        status: 409,
        message: expect.stringContaining('running') as unknown,
      });
      expect(present(running.files)).toEqual([true, true]);
      const failed = batch({ state: 'failed', target: 'hospital' });
      expect((await discardSeries(deps(), failed.id, 'a', 'x')).ok).toBe(true);
      expect(await discardSeries(deps(), failed.id, 'a', 'x')).toMatchObject({
        ok: false,
        status: 409,
        message: expect.stringContaining('already discarded') as unknown,
      });
    });

    it('finishes at start-up a deletion a crash interrupted', async () => {
      const b = batch({ state: 'failed', target: 'hospital' });
      await originals.put({
        seriesId: b.id,
        state: 'discarded',
        reason: 'x',
        by: 'a',
        files: 2,
        bytes: 200,
        at: 0,
        pendingDelete: true,
      });
      expect((await originals.holdings()).removing.series).toBe(1);
      expect(await retention().recover()).toMatchObject({ finished: 1 });
      expect(present(b.files)).toEqual([false, false]);
      expect((await originals.get(b.id))?.pendingDelete).toBe(false);
    });

    it('makes a waiting RT object stop waiting', async () => {
      const b = batch({ state: 'complete', target: 'hospital', routeState: 'waiting' });
      const routes = createRouteStore(t.db);
      expect((await routes.waiting()).map((w) => w.seriesId)).toEqual([b.id]);
      expect((await discardSeries(deps(), b.id, 'a', 'RT of a cancelled plan')).ok).toBe(true);
      expect(await routes.waiting()).toEqual([]);
    });
  });
});
