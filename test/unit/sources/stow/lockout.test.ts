import { describe, expect, it } from 'vitest';
import { createLockout, LOCK_MS, MAX_FAILURES, WINDOW_MS } from '../../../../src/sources/stow/lockout.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

describe('STOW-RS lockout', () => {
  it('locks an address out after MAX_FAILURES wrong tokens within the window, for LOCK_MS', () => {
    const clock = createFakeClock();
    const l = createLockout(clock);
    for (let i = 1; i < MAX_FAILURES; i++) {
      expect(l.failed('10.0.0.1')).toBe(false);
    }
    expect(l.lockedFor('10.0.0.1')).toBe(0);
    expect(l.failed('10.0.0.1')).toBe(true);
    expect(l.lockedFor('10.0.0.1')).toBe(LOCK_MS);
    expect(l.lockedFor('10.0.0.2')).toBe(0);
    clock.advance(LOCK_MS - 1);
    expect(l.lockedFor('10.0.0.1')).toBe(1);
    clock.advance(1);
    expect(l.lockedFor('10.0.0.1')).toBe(0);
  });

  it('forgets failures older than the window, and all of them after a right token', () => {
    const clock = createFakeClock();
    const l = createLockout(clock);
    for (let i = 1; i < MAX_FAILURES; i++) {
      l.failed('a');
    }
    clock.advance(WINDOW_MS + 1);
    expect(l.failed('a')).toBe(false);
    for (let i = 2; i < MAX_FAILURES; i++) {
      l.failed('a');
    }
    l.succeeded('a');
    expect(l.failed('a')).toBe(false);
  });

  it('stays bounded under a flood of addresses', () => {
    const clock = createFakeClock();
    const l = createLockout(clock);
    for (let i = 0; i < 25_000; i++) {
      l.failed(`10.${String(i >> 16)}.${String((i >> 8) & 255)}.${String(i & 255)}`);
    }
    // Nothing locked, nothing lost that matters; the newest addresses are still tracked.
    expect(l.lockedFor('10.0.0.1')).toBe(0);
  });
});
