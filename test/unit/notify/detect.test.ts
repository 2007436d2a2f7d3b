import { describe, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createDetector } from '../../../src/notify/detect.ts';
import type { Notice } from '../../../src/notify/notice.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

async function setup() {
  const clock = createFakeClock();
  const events = createEvents();
  const got: Notice[] = [];
  const state = {
    rules: null as { at: number; problems: string[] } | null,
    drops: [{ id: 1, state: 'released', filesTotal: 3, filesRejected: 1 }] as {
      id: number;
      state: string;
      filesTotal: number;
      filesRejected: number;
    }[],
  };
  const d = createDetector({
    events,
    clock,
    circuitOpenMs: 60_000,
    disk: () => Promise.resolve({ freeBytes: 10, minFreeBytes: 1 }),
    rulesError: () => state.rules,
    drops: () => Promise.resolve(state.drops),
    emit: (n) => got.push(n),
  });
  await d.start();
  return { clock, events, got, state, d };
}

describe('notice detection', () => {
  it('words a dead job, a quarantined series and an RT object without images by ids, projects, rules and codes', async () => {
    const { events, got } = await setup();
    events.emit('job.failed', {
      jobId: 3,
      seriesId: 9,
      sink: 'xnat-dimse',
      attempt: 8,
      code: 'ERR_DIMSE_REJECTED',
      stage: 'sending',
    });
    events.emit('series.routed', {
      seriesId: 10,
      project: 'QUARANTINE',
      target: 'quarantine',
      rules: ['protocol:model'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    events.emit('series.routed', {
      seriesId: 11,
      project: 'QUARANTINE',
      target: 'quarantine',
      rules: ['rt:referenced-images-missing'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    events.emit('series.routed', {
      seriesId: 12,
      project: 'KCL',
      target: 'hospital',
      rules: ['default'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    expect(got.map((n) => [n.kind, n.subject, n.path, n.title])).toEqual([
      ['job.dead', 'job:3', '/console/series/9', 'Delivery of series 9 to xnat-dimse gave up (ERR_DIMSE_REJECTED)'],
      ['series.quarantined', 'series:10', '/console/series/10', 'Series 10 went to QUARANTINE (protocol:model)'],
      [
        'rt.missing-images',
        'series:11',
        '/console/series/11',
        'RT series 11 went to QUARANTINE: its referenced images never arrived',
      ],
    ]);
  });

  it('reports a refused rules edit once, and once when a reload works again', async () => {
    const { d, got, state } = await setup();
    state.rules = { at: 5, problems: ['/etc/rules.yaml line 3: unknown attribute "Modalty"'] };
    await d.check();
    await d.check();
    state.rules = { at: 9, problems: ['still wrong'] };
    await d.check();
    state.rules = null;
    await d.check();
    expect(got.map((n) => [n.kind, n.state, n.text])).toEqual([
      ['rules.refused', 'open', '/etc/rules.yaml line 3: unknown attribute "Modalty"'],
      ['rules.refused', 'recovered', 'The refused edit has been fixed.'],
    ]);
  });

  it('reports import drops finished with rejected files after start-up, once each', async () => {
    const { d, got, state } = await setup();
    state.drops = [
      { id: 3, state: 'reading', filesTotal: 5, filesRejected: 2 },
      { id: 2, state: 'released', filesTotal: 4, filesRejected: 0 },
      ...state.drops,
    ];
    await d.check();
    expect(got).toEqual([]);
    state.drops[0] = { id: 3, state: 'released', filesTotal: 5, filesRejected: 2 };
    await d.check();
    await d.check();
    expect(got.map((n) => n.title)).toEqual(['Import drop 3: 2 of 5 files rejected']);
  });

  it('counts an open circuit from its first failure through half-open probes, per sink', async () => {
    const { d, got, clock, events } = await setup();
    events.emit('sink.circuit', { sink: 'a', state: 'open', code: null, error: null });
    clock.advance(30_000);
    events.emit('sink.circuit', { sink: 'a', state: 'half-open', code: null, error: null });
    events.emit('sink.circuit', { sink: 'b', state: 'open', code: null, error: null });
    clock.advance(30_000);
    await d.check();
    expect(got.map((n) => n.subject)).toEqual(['sink:a']);
    events.emit('sink.circuit', { sink: 'b', state: 'closed', code: null, error: null });
    events.emit('sink.circuit', { sink: 'a', state: 'closed', code: null, error: null });
    expect(got.map((n) => `${n.subject} ${n.state}`)).toEqual(['sink:a open', 'sink:a recovered']);
  });
});
