import { describe, expect, it } from 'vitest';
import { scheduleConfig } from '../../../../src/sources/pull/config.ts';
import { createSchedule } from '../../../../src/sources/pull/schedule.ts';

const at = (iso: string): number => Date.parse(iso);
const schedule = (windows: unknown[], timeZone: string | null = 'UTC') =>
  createSchedule(scheduleConfig.parse({ timeZone, windows }));

describe('schedule', () => {
  it('is always open by default, with one association and one study', () => {
    const s = createSchedule(scheduleConfig.parse({}));
    expect(s.windowAt(at('2024-03-06T12:00:00Z'))).toEqual({
      index: 0,
      maxAssociations: 1,
      maxStudiesInFlight: 1,
      utilisationPercent: 100,
    });
    expect(s.nextChange(at('2024-03-06T12:00:00Z'))).toBeNull();
  });

  it('opens weeknight windows that run past midnight and belong to the day they open', () => {
    // Mon–Fri 20:00 → 06:00.
    const s = schedule([{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '20:00', to: '06:00', maxAssociations: 2 }]);
    expect(s.windowAt(at('2024-03-04T19:59:00Z'))).toBeNull(); // Monday evening, before
    expect(s.windowAt(at('2024-03-04T20:00:00Z'))?.maxAssociations).toBe(2);
    expect(s.windowAt(at('2024-03-05T05:59:00Z'))).not.toBeNull(); // Tuesday morning: Monday's window
    expect(s.windowAt(at('2024-03-05T06:00:00Z'))).toBeNull();
    expect(s.windowAt(at('2024-03-09T03:00:00Z'))).not.toBeNull(); // Saturday morning: Friday's window
    expect(s.windowAt(at('2024-03-10T03:00:00Z'))).toBeNull(); // Sunday morning: Saturday has none
    expect(s.windowAt(at('2024-03-04T03:00:00Z'))).toBeNull(); // Monday morning: Sunday has none
  });

  it('tells when the window next opens and closes', () => {
    const s = schedule([{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '20:00', to: '06:00' }]);
    expect(s.nextChange(at('2024-03-04T12:00:00Z'))).toBe(at('2024-03-04T20:00:00Z'));
    expect(s.nextChange(at('2024-03-04T20:00:00Z'))).toBe(at('2024-03-05T06:00:00Z'));
    // Saturday noon: the next opening is Monday 20:00.
    expect(s.nextChange(at('2024-03-09T12:00:00Z'))).toBe(at('2024-03-11T20:00:00Z'));
  });

  it('switches limits between adjacent windows, first match winning', () => {
    const s = schedule([
      { days: ['sat', 'sun'], maxAssociations: 4, utilisationPercent: 100 },
      { from: '00:00', to: '24:00', maxAssociations: 1, utilisationPercent: 25 },
    ]);
    expect(s.windowAt(at('2024-03-09T10:00:00Z'))).toMatchObject({ index: 0, maxAssociations: 4 });
    expect(s.windowAt(at('2024-03-11T10:00:00Z'))).toMatchObject({ index: 1, utilisationPercent: 25 });
    expect(s.nextChange(at('2024-03-10T23:30:00Z'))).toBe(at('2024-03-11T00:00:00Z'));
  });

  it('keeps wall-clock windows across a daylight-saving change', () => {
    // Europe/London: clocks go forward on 2024-03-31 01:00 UTC; 22:00–07:00 local.
    const s = schedule([{ from: '22:00', to: '07:00' }], 'Europe/London');
    expect(s.windowAt(at('2024-03-30T21:59:00Z'))).toBeNull(); // 21:59 GMT
    expect(s.nextChange(at('2024-03-30T12:00:00Z'))).toBe(at('2024-03-30T22:00:00Z'));
    // After the change 07:00 BST is 06:00 UTC.
    expect(s.nextChange(at('2024-03-30T22:00:00Z'))).toBe(at('2024-03-31T06:00:00Z'));
    expect(s.windowAt(at('2024-03-31T06:30:00Z'))).toBeNull();
    expect(s.windowAt(at('2024-03-31T05:30:00Z'))).not.toBeNull();
  });

  it('refuses an unknown time zone and malformed times in the configuration', () => {
    expect(scheduleConfig.safeParse({ timeZone: 'Mars/Olympus' }).success).toBe(false);
    expect(scheduleConfig.safeParse({ windows: [{ from: '25:00' }] }).success).toBe(false);
    expect(scheduleConfig.safeParse({ windows: [{ days: [] }] }).success).toBe(false);
    expect(scheduleConfig.safeParse({ windows: [{ utilisationPercent: 0 }] }).success).toBe(false);
  });
});
