import { describe, expect, it } from 'vitest';
import { scheduleConfig } from '../../../../src/sources/pull/config.ts';
import { createSchedule } from '../../../../src/sources/pull/schedule.ts';
import { createThrottle, type AssociationPermit } from '../../../../src/sources/pull/throttle.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';

const MON_NOON = Date.parse('2024-03-04T12:00:00Z');

function throttle(windows: unknown[], start = MON_NOON) {
  const clock = createFakeClock(start);
  return { clock, t: createThrottle(createSchedule(scheduleConfig.parse({ timeZone: 'UTC', windows })), clock) };
}

describe('throttle', () => {
  it('grants nothing outside the window and says when it opens', () => {
    const { t } = throttle([{ from: '20:00', to: '06:00' }]);
    expect(t.tryAssociation()).toEqual({ ok: false, reason: 'closed', retryAt: Date.parse('2024-03-04T20:00:00Z') });
    expect(t.tryStudy()).toMatchObject({ ok: false, reason: 'closed' });
  });

  it('never grants more associations or studies than the window allows', () => {
    const { t } = throttle([{ maxAssociations: 2, maxStudiesInFlight: 3 }]);
    const a = [t.tryAssociation(), t.tryAssociation(), t.tryAssociation()];
    expect(a.map((x) => x.ok)).toEqual([true, true, false]);
    expect(a[2]).toMatchObject({ reason: 'associations', retryAt: null });
    const s = [t.tryStudy(), t.tryStudy(), t.tryStudy(), t.tryStudy()];
    expect(s.map((x) => x.ok)).toEqual([true, true, true, false]);
    (a[0] as AssociationPermit).release();
    expect(t.tryAssociation().ok).toBe(true);
    expect(t.status()).toMatchObject({ associations: 2, studies: 3, maxAssociations: 2 });
  });

  it('rests a slot three times as long as it worked at 25 % utilisation', () => {
    const { t, clock } = throttle([{ utilisationPercent: 25 }]);
    const first = t.tryAssociation() as AssociationPermit;
    clock.advance(10_000);
    first.release();
    expect(t.tryAssociation()).toEqual({ ok: false, reason: 'utilisation', retryAt: MON_NOON + 10_000 + 30_000 });
    clock.advance(29_999);
    expect(t.tryAssociation().ok).toBe(false);
    clock.advance(1);
    expect(t.tryAssociation().ok).toBe(true);
  });

  it('at 100 % utilisation a released slot is free at once', () => {
    const { t, clock } = throttle([{}]);
    const p = t.tryAssociation() as AssociationPermit;
    clock.advance(60_000);
    p.release();
    p.release(); // idempotent
    expect(t.tryAssociation().ok).toBe(true);
  });

  it('lets running associations finish when the window shrinks, granting no new ones above the new limit', () => {
    const { t, clock } = throttle([
      { from: '00:00', to: '12:30', maxAssociations: 3 },
      { from: '12:30', to: '24:00', maxAssociations: 1 },
    ]);
    const held = [t.tryAssociation(), t.tryAssociation()] as AssociationPermit[];
    clock.advance(31 * 60_000);
    expect(t.tryAssociation()).toMatchObject({ ok: false, reason: 'associations' });
    held[0]?.release();
    expect(t.tryAssociation().ok).toBe(false);
    held[1]?.release();
    expect(t.tryAssociation().ok).toBe(true);
  });
});
