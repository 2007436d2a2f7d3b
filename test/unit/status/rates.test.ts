import { describe, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createRateTracker } from '../../../src/status/rates.ts';
import { fakeClock } from '../../helpers/queue-rows.ts';
import { SOURCE_TYPES } from '../../../src/app/registry.ts';

describe('createRateTracker', () => {
  it('reports zero for every source before anything arrives', () => {
    const r = createRateTracker(fakeClock(), SOURCE_TYPES, 10_000).snapshot();
    expect(r).toEqual({
      windowSeconds: 10,
      // Every registered source, each at zero.
      sources: Object.fromEntries(SOURCE_TYPES.map((t) => [t, { instancesPerSecond: 0, bytesPerSecond: 0 }])),
    });
  });

  it('averages instances and bytes per second over the window, per source', () => {
    const clock = fakeClock(0);
    const r = createRateTracker(clock, SOURCE_TYPES, 10_000);
    for (let s = 0; s < 5; s++) {
      r.record('dimse', 1_000);
      r.record('dimse', 1_000);
      clock.advance(1_000);
    }
    r.record('folder', 500);
    const snap = r.snapshot();
    expect(snap.sources.dimse).toEqual({ instancesPerSecond: 1, bytesPerSecond: 1_000 });
    expect(snap.sources.folder).toEqual({ instancesPerSecond: 0.1, bytesPerSecond: 50 });
  });

  it('forgets seconds that have left the window', () => {
    const clock = fakeClock(0);
    const r = createRateTracker(clock, SOURCE_TYPES, 10_000);
    r.record('dimse', 100);
    clock.advance(9_999);
    expect(r.snapshot().sources.dimse?.instancesPerSecond).toBe(0.1);
    clock.advance(1);
    expect(r.snapshot().sources.dimse?.instancesPerSecond).toBe(0);
  });

  it('reuses a ring slot after wrap-around without adding the stale count', () => {
    const clock = fakeClock(0);
    const r = createRateTracker(clock, SOURCE_TYPES, 3_000);
    r.record('dimse', 10);
    r.record('dimse', 10);
    clock.advance(3_000); // same slot, a new second
    r.record('dimse', 10);
    expect(r.snapshot().sources.dimse).toEqual({ instancesPerSecond: 1 / 3, bytesPerSecond: 10 / 3 });
  });

  it('counts instance.received events until unsubscribed', () => {
    const events = createEvents();
    const r = createRateTracker(fakeClock(), SOURCE_TYPES, 1_000);
    const off = r.subscribe(events);
    events.emit('instance.received', { source: 'folder', seriesId: 1, instanceId: 1, bytes: 42, outcome: 'stored' });
    off();
    events.emit('instance.received', { source: 'folder', seriesId: 1, instanceId: 2, bytes: 42, outcome: 'stored' });
    expect(r.snapshot().sources.folder).toEqual({ instancesPerSecond: 1, bytesPerSecond: 42 });
  });
});
