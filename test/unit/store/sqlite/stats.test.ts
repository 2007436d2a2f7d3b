import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Db } from '../../../../src/store/sqlite/db.ts';
import { ageSeconds, createStats } from '../../../../src/store/sqlite/stats.ts';
import { safeDetail } from '../../../../src/store/sqlite/timeline.ts';
import { EVENT_LIMIT } from '../../../../src/store/timeline.ts';
import {
  addAssociation,
  addAttempt,
  addEvent,
  addInstance,
  addJob,
  addSeries,
  linkSeries,
  tmpDb,
} from '../../../helpers/queue-rows.ts';
import { SOURCE_TYPES } from '../../../../src/app/registry.ts';

let db: Db;
let close: () => void;
beforeEach(() => {
  ({ db, close } = tmpDb());
});
afterEach(() => {
  close();
});

describe('createStats', () => {
  it('counts series batches, instances and bytes per state, with zeros for empty states', async () => {
    addSeries(db, { state: 'receiving', instance_count: 3, byte_count: 300 });
    addSeries(db, { state: 'receiving', instance_count: 2, byte_count: 200 });
    addSeries(db, { state: 'delivered', instance_count: 1, byte_count: 10 });
    expect(await createStats(db, SOURCE_TYPES).seriesByState()).toEqual({
      receiving: { series: 2, instances: 5, bytes: 500 },
      complete: { series: 0, instances: 0, bytes: 0 },
      delivered: { series: 1, instances: 1, bytes: 10 },
      failed: { series: 0, instances: 0, bytes: 0 },
    });
  });

  it('counts jobs per state', async () => {
    const s = addSeries(db);
    addJob(db, s, { sink: 'a', state: 'queued' });
    addJob(db, s, { sink: 'b', state: 'dead' });
    expect(await createStats(db, SOURCE_TYPES).jobsByState()).toEqual({ queued: 1, running: 0, done: 0, dead: 1 });
  });

  it('totals instances and bytes per source from the instances table', async () => {
    const s = addSeries(db);
    addInstance(db, s, { size: 10 });
    addInstance(db, s, { size: 20 });
    addInstance(db, s, { size: 5, source: 'folder' });
    expect(await createStats(db, SOURCE_TYPES).sourceTotals()).toEqual({
      ...Object.fromEntries(SOURCE_TYPES.map((t) => [t, { instances: 0, bytes: 0 }])),
      dimse: { instances: 2, bytes: 30 },
      folder: { instances: 1, bytes: 5 },
    });
  });

  it('lists series newest first and pages with the before cursor', async () => {
    const ids = [1, 2, 3, 4, 5].map(() => addSeries(db));
    const stats = createStats(db, SOURCE_TYPES);
    const first = await stats.listSeries({ limit: 2 });
    expect(first.items.map((s) => s.id)).toEqual([ids[4], ids[3]]);
    expect(first.nextBefore).toBe(ids[3]);
    const last = await stats.listSeries({ limit: 2, before: ids[1] });
    expect(last.items.map((s) => s.id)).toEqual([ids[0]]);
    expect(last.nextBefore).toBeNull();
  });

  it('filters the list by state and clamps the limit', async () => {
    addSeries(db, { state: 'failed' });
    const done = addSeries(db, { state: 'delivered', delivered_at: 9_000 });
    const page = await createStats(db, SOURCE_TYPES).listSeries({ state: 'delivered', limit: 10_000 });
    expect(page.items).toHaveLength(1);
    expect(page.items[0]).toMatchObject({ id: done, state: 'delivered', deliveredAt: 9_000, modality: 'MR' });
  });

  it('reports the oldest pending series batch and queued job, ignoring finished ones', async () => {
    const stats = createStats(db, SOURCE_TYPES);
    expect(await stats.oldestPending()).toEqual({
      seriesFirstInstanceAt: null,
      seriesId: null,
      jobRunAt: null,
      jobId: null,
    });
    addSeries(db, { state: 'delivered', first_instance_at: 10 });
    const old = addSeries(db, { state: 'complete', first_instance_at: 500 });
    addSeries(db, { state: 'receiving', first_instance_at: 800 });
    addJob(db, old, { state: 'done', run_at: 1 });
    const job = addJob(db, old, { sink: 'other', state: 'queued', run_at: 700 });
    expect(await stats.oldestPending()).toEqual({
      seriesFirstInstanceAt: 500,
      seriesId: old,
      jobRunAt: 700,
      jobId: job,
    });
  });

  it('counts open associations', async () => {
    addAssociation(db);
    addAssociation(db, { closed_at: null, outcome: null });
    expect(await createStats(db, SOURCE_TYPES).openAssociations()).toBe(1);
  });

  it('summarises each sink with job counts, last success and last failure', async () => {
    const s1 = addSeries(db);
    const s2 = addSeries(db);
    addJob(db, s1, { sink: 'xnat', state: 'done', updated_at: 4_000 });
    const failing = addJob(db, s2, { sink: 'xnat', state: 'queued' });
    addAttempt(db, failing, {
      attempt: 1,
      outcome: 'retry',
      code: 'ERR_SINK_WRITE',
      error: 'first',
      finished_at: 2_000,
    });
    addAttempt(db, failing, {
      attempt: 2,
      outcome: 'error',
      code: 'ERR_JOB_UNEXPECTED',
      error: 'second',
      finished_at: 3_000,
    });
    expect(await createStats(db, SOURCE_TYPES).sinks()).toEqual([
      {
        sink: 'xnat',
        jobs: { queued: 1, running: 0, done: 1, dead: 0 },
        lastSuccessAt: 4_000,
        lastFailure: { at: 3_000, code: 'ERR_JOB_UNEXPECTED', error: 'second' },
      },
    ]);
  });

  it('builds a timeline with associations, jobs with every attempt, and audit events in order', async () => {
    const a = addAssociation(db, { calling_ae: 'CT1', peer_ip: '192.168.1.9', opened_at: 900, closed_at: 1_500 });
    const s = addSeries(db, { state: 'delivered', instance_count: 2, completed_at: 2_000, delivered_at: 3_000 });
    linkSeries(db, s, a);
    addInstance(db, s, { association_id: a });
    addInstance(db, s, { association_id: a });
    const j = addJob(db, s, { state: 'done', attempts: 2, receipt: 'XNAT_E00001' });
    addAttempt(db, j, { attempt: 2, outcome: 'delivered', code: null });
    addAttempt(db, j, { attempt: 1, outcome: 'retry', code: 'ERR_SINK_WRITE', error: 'ERR_SINK_WRITE: busy' });
    addEvent(db, { series_id: s, at: 1_000, kind: 'series.created' });
    addEvent(db, { series_id: s, at: 2_000, kind: 'series.completed', detail: '{"instances":2}' });

    const t = await createStats(db, SOURCE_TYPES).timeline(s);
    expect(t).toMatchObject({
      id: s,
      state: 'delivered',
      instanceCount: 2,
      completedAt: 2_000,
      deliveredAt: 3_000,
      eventsTruncated: false,
    });
    expect(t?.associations).toEqual([
      {
        uid: expect.any(String) as unknown,
        source: 'dimse',
        callingAe: 'CT1',
        calledAe: 'GATEWAY',
        peerIp: '192.168.1.9',
        openedAt: 900,
        closedAt: 1_500,
        outcome: 'released',
        instances: 2,
      },
    ]);
    expect(t?.jobs[0]).toMatchObject({ id: j, state: 'done', attemptCount: 2, receipt: 'XNAT_E00001' });
    expect(t?.jobs[0]?.attempts.map((x) => [x.attempt, x.outcome, x.code])).toEqual([
      [1, 'retry', 'ERR_SINK_WRITE'],
      [2, 'delivered', null],
    ]);
    expect(t?.events.map((e) => [e.kind, e.detail])).toEqual([
      ['series.created', {}],
      ['series.completed', { instances: 2 }],
    ]);
  });

  it('returns null for a series id that does not exist', async () => {
    expect(await createStats(db, SOURCE_TYPES).timeline(404)).toBeNull();
  });

  it('keeps only the newest audit events when a series has very many', async () => {
    const s = addSeries(db);
    db.transaction(() => {
      for (let i = 0; i < EVENT_LIMIT + 3; i++) {
        addEvent(db, { series_id: s, at: i });
      }
    })();
    const t = await createStats(db, SOURCE_TYPES).timeline(s);
    expect(t?.events).toHaveLength(EVENT_LIMIT);
    expect(t?.events[0]?.at).toBe(3);
    expect(t?.eventsTruncated).toBe(true);
  });
});

describe('safeDetail', () => {
  it('drops patient-like keys, drop paths and nested values but keeps scalar audit fields', () => {
    const detail = JSON.stringify({
      PatientName: 'DOE^JOHN',
      patientId: 'X',
      origin: 'DOE_JOHN/1.dcm',
      code: 'ERR_X',
      n: 2,
      ok: true,
      nested: { a: 1 },
    });
    expect(safeDetail(detail)).toEqual({ code: 'ERR_X', n: 2, ok: true });
  });

  it('withholds the content of a malformed detail instead of failing', () => {
    expect(safeDetail('{oops')).toEqual({ unparsable: true });
    expect(safeDetail('[1,2]')).toEqual({});
  });
});

describe('ageSeconds', () => {
  it('is null without an anchor and never negative', () => {
    expect(ageSeconds(null, 5_000)).toBeNull();
    expect(ageSeconds(1_000, 5_000)).toBe(4);
    expect(ageSeconds(9_000, 5_000)).toBe(0);
  });
});
