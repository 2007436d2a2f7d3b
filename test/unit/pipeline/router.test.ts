import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents, type DaemonEventMap } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import { releaseSeries } from '../../../src/pipeline/release.ts';
import { formatWindow } from '../../../src/pipeline/route-reasons.ts';
import { createRouter, type Router } from '../../../src/pipeline/router.ts';
import type { JobStore } from '../../../src/store/jobs.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { createRouteStore } from '../../../src/store/sqlite/routes.ts';
import type { RouteStore } from '../../../src/store/routes.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';
import { loadSnapshot } from '../../../src/series/snapshot.ts';
import type { SeriesSnapshot } from '../../../src/contracts/series.ts';
import type { RtReferences, SeriesDecision, Target } from '../../../src/contracts/routing.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { createTmpDb, insertInstance, insertSeries, type TmpDb } from '../../helpers/series-rows.ts';

const HOUR = 3_600_000;
const projects = { hospitalProject: 'KCL', quarantineProject: 'QUARANTINE' };

describe('formatWindow', () => {
  it('reads as an operator would say it', () => {
    expect([formatWindow(24 * HOUR), formatWindow(1.5 * HOUR), formatWindow(59 * 60_000), formatWindow(1500)]).toEqual([
      '24 h',
      '1.5 h',
      '59 min',
      '2 s',
    ]);
  });
});

describe('router', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let jobs: JobStore;
  let routes: RouteStore;
  let routed: DaemonEventMap['series.routed'][];
  /** What the fake route component says, by series UID. */
  let verdicts: Map<string, { target: Target; rt?: RtReferences; fail?: boolean }>;

  function decide(s: SeriesSnapshot): Promise<SeriesDecision> {
    const v = verdicts.get(s.seriesInstanceUid) ?? { target: 'hospital' };
    if (v.fail) {
      return Promise.reject(new Error('spool file vanished'));
    }
    return Promise.resolve({
      target: v.target,
      project: v.target === 'hospital' ? 'KCL' : 'QUARANTINE',
      rulesHash: 'h1',
      rt: v.rt ?? null,
      reasons: [
        {
          rule: v.target === 'hospital' ? 'default' : 'protocol:model',
          source: v.target === 'hospital' ? 'default' : 'protocol',
          message: 'x',
          instances: 1,
        },
      ],
    });
  }

  function build(o: { projectFor?: (seriesId: number) => Promise<string | null> } = {}): Router {
    const events = createEvents();
    events.on('series.routed', (e) => routed.push(e));
    return createRouter({
      db: t.db,
      uow: sqliteUnitOfWork(t.db),
      routes,
      jobs,
      clock,
      events,
      log: createLogger('silent', new PassThrough()),
      decide,
      rulesHash: () => 'h1',
      loadSnapshot: (id) => loadSnapshot(t.db, id, t.dir),
      projects,
      sinksFor: (p) => (p === 'RESEARCH' ? ['xnat'] : ['folder', 'xnat']),
      maxAttempts: 3,
      rtWaitMs: 24 * HOUR,
      checkIntervalMs: 1000,
      ...o,
    });
  }

  const complete = (o: { seriesUid: string; studyUid?: string; batch?: number; sops?: string[] }): number => {
    const id = insertSeries(t.db, {
      lastInstanceAt: clock.now(),
      state: 'complete',
      seriesUid: o.seriesUid,
      studyUid: o.studyUid ?? '1.9',
      batch: o.batch ?? 1,
    });
    for (const sop of o.sops ?? [`${o.seriesUid}.1`]) {
      insertInstance(t.db, id, { sopInstanceUid: sop, path: `${sop}.dcm` });
    }
    return id;
  };
  const jobsOf = (id: number): unknown[] =>
    t.db.prepare('SELECT sink, state, after_series_id AS after FROM jobs WHERE series_id = ? ORDER BY sink').all(id);

  /** What an operator's release needs: these stores, both sinks, three attempts. */
  const releaseDeps = () => ({
    db: t.db,
    uow: sqliteUnitOfWork(t.db),
    routes,
    jobs,
    clock,
    projects,
    sinksFor: () => ['folder', 'xnat'],
    maxAttempts: 3,
  });

  beforeEach(() => {
    t = createTmpDb();
    clock = createFakeClock();
    jobs = createJobStore(t.db, clock, { leaseMs: 30_000 });
    routes = createRouteStore(t.db);
    routed = [];
    verdicts = new Map();
  });
  afterEach(() => {
    t.cleanup();
  });

  it('records one decision per completed batch and only then creates its delivery jobs', async () => {
    verdicts.set('1.9.2', { target: 'quarantine' });
    const a = complete({ seriesUid: '1.9.1' });
    const b = complete({ seriesUid: '1.9.2' });
    expect(await build().tick()).toBe(2);
    expect(await routes.get(a)).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL', rulesHash: 'h1' });
    expect(await routes.get(b)).toMatchObject({ state: 'routed', target: 'quarantine', project: 'QUARANTINE' });
    expect(jobsOf(b)).toEqual([
      { sink: 'folder', state: 'queued', after: null },
      { sink: 'xnat', state: 'queued', after: null },
    ]);
    expect(routed.map((e) => [e.seriesId, e.project])).toEqual([
      [a, 'KCL'],
      [b, 'QUARANTINE'],
    ]);
    expect((await loadSnapshot(t.db, b, t.dir)).project).toBe('QUARANTINE');
    expect(await build().tick()).toBe(0);
  });

  it('files a hospital batch under the project a pull names for it, never a quarantined one', async () => {
    verdicts.set('1.9.2', { target: 'quarantine' });
    const a = complete({ seriesUid: '1.9.1' });
    const b = complete({ seriesUid: '1.9.2' });
    const c = complete({ seriesUid: '1.9.3' });
    await build({ projectFor: (id) => Promise.resolve(id === c ? null : 'RESEARCH') }).tick();
    expect(await routes.get(a)).toMatchObject({ target: 'hospital', project: 'RESEARCH' });
    expect(jobsOf(a)).toEqual([{ sink: 'xnat', state: 'queued', after: null }]);
    expect(await routes.get(b)).toMatchObject({ target: 'quarantine', project: 'QUARANTINE' });
    expect(await routes.get(c)).toMatchObject({ target: 'hospital', project: 'KCL' });
  });

  it('quarantines a batch it cannot read (fail closed)', async () => {
    verdicts.set('1.9.1', { target: 'hospital', fail: true });
    const a = complete({ seriesUid: '1.9.1' });
    await build().tick();
    expect(await routes.get(a)).toMatchObject({
      target: 'quarantine',
      reasons: [expect.objectContaining({ rule: 'router:error' })],
    });
  });

  it('holds an RTSTRUCT until its CT arrives an hour later, then routes both to the hospital project, images first', async () => {
    verdicts.set('1.9.rt', {
      target: 'hospital',
      rt: { modality: 'RTSTRUCT', seriesUids: ['1.9.ct'], sopInstanceUids: ['1.9.ct.1', '1.9.ct.2'] },
    });
    const rt = complete({ seriesUid: '1.9.rt', studyUid: '1.8' });
    const router = build();
    await router.tick();
    expect(await routes.get(rt)).toMatchObject({ state: 'waiting', waitUntil: clock.now() + 24 * HOUR });
    expect(jobsOf(rt)).toEqual([]);
    clock.advance(HOUR);
    const ct = complete({ seriesUid: '1.9.ct', studyUid: '1.9', sops: ['1.9.ct.1', '1.9.ct.2'] });
    expect(await router.tick()).toBe(2);
    expect(await routes.get(ct)).toMatchObject({ state: 'routed', project: 'KCL' });
    expect(await routes.get(rt)).toMatchObject({
      state: 'routed',
      project: 'KCL',
      groupSeriesId: ct,
      sessionStudyUid: '1.9',
    });
    expect(jobsOf(rt)).toEqual([
      { sink: 'folder', state: 'queued', after: ct },
      { sink: 'xnat', state: 'queued', after: ct },
    ]);
    // Same session as the CT, even though the RTSTRUCT names another study.
    expect((await loadSnapshot(t.db, rt, t.dir)).sessionStudyUid).toBe('1.9');
    // Images first: the RT jobs are claimable only once the CT job of the same sink has finished.
    const claimed = [await jobs.claim(), await jobs.claim(), await jobs.claim()].map((j) => j?.seriesId ?? null);
    expect(claimed).toEqual([ct, ct, null]);
  });

  it('quarantines an RTSTRUCT whose images never come, after the window, and never deletes it', async () => {
    verdicts.set('1.9.rt', {
      target: 'hospital',
      rt: { modality: 'RTSTRUCT', seriesUids: ['1.9.ct'], sopInstanceUids: [] },
    });
    const rt = complete({ seriesUid: '1.9.rt' });
    const router = build();
    await router.tick();
    clock.advance(24 * HOUR - 1);
    await router.tick();
    expect((await routes.get(rt))?.state).toBe('waiting');
    clock.advance(1);
    await router.tick();
    const r = await routes.get(rt);
    expect(r).toMatchObject({ state: 'routed', target: 'quarantine', project: 'QUARANTINE' });
    // The rules' "hospital" reason no longer explains anything once the router quarantines it.
    expect(r?.reasons.map((x) => x.rule)).toEqual(['rt:referenced-images-missing']);
    expect(r?.reasons[0]?.message).toBe(
      'Referenced images missing after waiting 24 h (1 referenced series and 0 referenced instances never arrived).',
    );
    expect(jobsOf(rt)).toHaveLength(2);
  });

  it('routes an RT object referencing images already delivered with them, and follows them into quarantine', async () => {
    verdicts.set('1.9.ct', { target: 'quarantine' });
    const ct = complete({ seriesUid: '1.9.ct', sops: ['1.9.ct.1'] });
    const router = build();
    await router.tick();
    verdicts.set('1.9.plan', {
      target: 'hospital',
      rt: { modality: 'RTPLAN', seriesUids: [], sopInstanceUids: ['1.9.ct.1'] },
    });
    const plan = complete({ seriesUid: '1.9.plan' });
    await router.tick();
    expect(await routes.get(plan)).toMatchObject({ state: 'routed', target: 'quarantine', groupSeriesId: ct });
    expect((await routes.get(plan))?.reasons.map((x) => x.rule)).toEqual(['rt:follows-images']);
    // Releasing the CT takes the RT object that only followed it along.
    const rel = await releaseSeries(releaseDeps(), ct, 'alice', 'checked pixels');
    expect(rel).toEqual({ ok: true, released: [ct, plan], project: 'KCL' });
    expect(await routes.get(plan)).toMatchObject({ target: 'hospital', project: 'KCL', releasedBy: 'alice' });
  });

  it('chains RT objects: a plan waits for its structure set, which waits for the CT', async () => {
    verdicts.set('1.9.ss', {
      target: 'hospital',
      rt: { modality: 'RTSTRUCT', seriesUids: ['1.9.ct'], sopInstanceUids: [] },
    });
    verdicts.set('1.9.plan', {
      target: 'hospital',
      rt: { modality: 'RTPLAN', seriesUids: [], sopInstanceUids: ['1.9.ss.1'] },
    });
    const plan = complete({ seriesUid: '1.9.plan' });
    const ss = complete({ seriesUid: '1.9.ss' });
    const router = build();
    await router.tick();
    expect([(await routes.get(plan))?.state, (await routes.get(ss))?.state]).toEqual(['waiting', 'waiting']);
    const ct = complete({ seriesUid: '1.9.ct' });
    await router.tick();
    expect(await routes.get(ss)).toMatchObject({ state: 'routed', groupSeriesId: ct });
    expect(await routes.get(plan)).toMatchObject({ state: 'routed', groupSeriesId: ss, sessionStudyUid: '1.9' });
  });

  it('sends a later batch of a quarantined series to quarantine too', async () => {
    verdicts.set('1.9.1', { target: 'quarantine' });
    complete({ seriesUid: '1.9.1' });
    const router = build();
    await router.tick();
    verdicts.set('1.9.1', { target: 'hospital' });
    const second = complete({ seriesUid: '1.9.1', batch: 2, sops: ['1.9.1.2'] });
    await router.tick();
    expect(await routes.get(second)).toMatchObject({
      target: 'quarantine',
      reasons: [expect.objectContaining({ rule: 'router:earlier-batch' })],
    });
  });

  it('refuses to release what is not quarantined or is being delivered, and redelivers a released series', async () => {
    verdicts.set('1.9.2', { target: 'quarantine' });
    const a = complete({ seriesUid: '1.9.1' });
    const b = complete({ seriesUid: '1.9.2' });
    await build().tick();
    const deps = releaseDeps();
    expect(await releaseSeries(deps, a, 'alice', null)).toMatchObject({ ok: false, status: 409 });
    expect(await releaseSeries(deps, 999, 'alice', null)).toMatchObject({ ok: false, status: 404 });
    const leased = await jobs.claim();
    expect(leased?.seriesId).toBe(a);
    const other = await jobs.claim();
    expect(other?.seriesId).toBe(a);
    const first = await jobs.claim();
    if (!first) {
      throw new Error('no job');
    }
    expect(await releaseSeries(deps, b, 'alice', null)).toMatchObject({ ok: false, status: 409 });
    await jobs.complete(first, 'outbox/QUARANTINE/x');
    const second = await jobs.claim();
    if (!second) {
      throw new Error('no job');
    }
    await jobs.complete(second, 'outbox/QUARANTINE/y');
    expect(await releaseSeries(deps, b, 'alice', 'reviewed')).toEqual({ ok: true, released: [b], project: 'KCL' });
    expect(jobsOf(b)).toEqual([
      { sink: 'folder', state: 'queued', after: null },
      { sink: 'xnat', state: 'queued', after: null },
    ]);
    expect((await loadSnapshot(t.db, b, t.dir)).project).toBe('KCL');
    const audit = t.db.prepare("SELECT detail FROM events WHERE kind = 'series.released'").pluck().all() as string[];
    expect(JSON.parse(audit[0] ?? '{}')).toMatchObject({
      by: 'alice',
      from: 'QUARANTINE',
      to: 'KCL',
      note: 'reviewed',
    });
  });
});
