import { describe, expect, it } from 'vitest';
import { createBreakers, type CircuitStatus } from '../../../src/resilience/breaker.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';

const opts = { failureThreshold: 3, openMs: 1_000, maxOpenMs: 3_000 };
const fail = { code: 'ERR_XNAT_UNAVAILABLE', error: 'connect ECONNREFUSED' };

describe('sink circuit breakers', () => {
  it('opens after the threshold of consecutive failures, and only for that sink', () => {
    const clock = createFakeClock();
    const changes: CircuitStatus[] = [];
    const b = createBreakers(['rest', 'folder'], opts, clock, (c) => changes.push(c));
    b.failed('rest', fail);
    b.failed('rest', fail);
    expect(b.blocked()).toEqual([]);
    b.failed('rest', fail);
    expect(b.blocked()).toEqual(['rest']);
    expect(b.retryAt('rest')).toBe(clock.now() + 1_000);
    expect(b.retryAt('folder')).toBeNull();
    expect(changes.map((c) => [c.sink, c.state])).toEqual([['rest', 'open']]);
    expect(b.status().find((s) => s.sink === 'rest')).toMatchObject({
      state: 'open',
      consecutiveFailures: 3,
      lastCode: 'ERR_XNAT_UNAVAILABLE',
      lastError: 'connect ECONNREFUSED',
      openedAt: clock.now(),
    });
  });

  it('a success in between resets the count', () => {
    const b = createBreakers(['rest'], opts, createFakeClock());
    b.failed('rest', fail);
    b.failed('rest', fail);
    b.succeeded('rest');
    b.failed('rest', fail);
    b.failed('rest', fail);
    expect(b.blocked()).toEqual([]);
  });

  it('lets exactly one probe through when due, and blocks again while it runs', () => {
    const clock = createFakeClock();
    const b = createBreakers(['rest'], opts, clock);
    b.failed('rest', { ...fail, trip: true });
    expect(b.blocked()).toEqual(['rest']);
    clock.advance(999);
    expect(b.blocked()).toEqual(['rest']);
    clock.advance(1);
    expect(b.blocked()).toEqual([]);
    b.claimed('rest');
    expect(b.status()[0]?.state).toBe('half-open');
    expect(b.blocked()).toEqual(['rest']);
  });

  it('a failed probe reopens with a doubled wait, capped; a good probe closes', () => {
    const clock = createFakeClock();
    const b = createBreakers(['rest'], opts, clock);
    b.failed('rest', { ...fail, trip: true });
    const waits: number[] = [];
    for (let i = 0; i < 4; i++) {
      clock.advance(10_000);
      b.claimed('rest');
      b.failed('rest', fail);
      waits.push((b.retryAt('rest') ?? 0) - clock.now());
    }
    expect(waits).toEqual([2_000, 3_000, 3_000, 3_000]);
    clock.advance(10_000);
    b.claimed('rest');
    b.succeeded('rest');
    expect(b.status()[0]).toMatchObject({ state: 'closed', consecutiveFailures: 0, openedAt: null, nextProbeAt: null });
    expect(b.blocked()).toEqual([]);
    // After closing, the first wait is the base one again.
    b.failed('rest', { ...fail, trip: true });
    expect(b.retryAt('rest')).toBe(clock.now() + 1_000);
  });

  it('ignores sinks it does not know', () => {
    const b = createBreakers(['rest'], opts, createFakeClock());
    b.failed('other', { ...fail, trip: true });
    b.claimed('other');
    b.succeeded('other');
    expect(b.blocked()).toEqual([]);
    expect(b.retryAt('other')).toBeNull();
  });
});
