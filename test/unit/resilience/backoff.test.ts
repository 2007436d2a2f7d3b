import { describe, expect, it } from 'vitest';
import { backoffMs } from '../../../src/resilience/backoff.ts';

const o = { baseMs: 1_000, maxMs: 60_000 };

describe('backoffMs', () => {
  it('doubles the ceiling with each attempt', () => {
    const top = () => 1;
    expect([1, 2, 3, 4].map((a) => backoffMs(a, o, top))).toEqual([1_000, 2_000, 4_000, 8_000]);
  });

  it('never exceeds the cap, even for huge attempt numbers', () => {
    expect(backoffMs(7, o, () => 1)).toBe(60_000);
    expect(backoffMs(10_000, o, () => 0.999)).toBeLessThanOrEqual(60_000);
    expect(Number.isFinite(backoffMs(Number.MAX_SAFE_INTEGER, o, () => 1))).toBe(true);
  });

  it('keeps at least half the ceiling with equal jitter (the default)', () => {
    expect(backoffMs(3, o, () => 0)).toBe(2_000);
    expect(backoffMs(3, o, () => 0.5)).toBe(3_000);
  });

  it('spreads between zero and the ceiling with full jitter', () => {
    expect(backoffMs(3, { ...o, jitter: 'full' }, () => 0)).toBe(0);
    expect(backoffMs(3, { ...o, jitter: 'full' }, () => 0.25)).toBe(1_000);
  });

  it('treats attempt 0 or below as the first retry', () => {
    expect(backoffMs(0, o, () => 1)).toBe(1_000);
    expect(backoffMs(-3, o, () => 1)).toBe(1_000);
  });

  it('returns whole milliseconds', () => {
    expect(Number.isInteger(backoffMs(2, { baseMs: 3, maxMs: 100 }, () => 0.333))).toBe(true);
  });
});
