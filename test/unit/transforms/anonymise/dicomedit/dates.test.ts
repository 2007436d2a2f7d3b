import { describe, expect, it } from 'vitest';
import { shiftDateTime, unitSeconds } from '../../../../../src/transforms/anonymise/dicomedit/dates.ts';

const DAY = 86_400;

describe('shiftDateTime', () => {
  it('shifts a full date from noon, so a few hours either way keep the day', () => {
    expect(shiftDateTime('20200101', DAY)).toBe('20200102');
    expect(shiftDateTime('20200101', 11 * 3600)).toBe('20200101');
    expect(shiftDateTime('20200101', 12 * 3600)).toBe('20200102');
    expect(shiftDateTime('20200101', -12 * 3600)).toBe('20200101');
    expect(shiftDateTime('20200101', -12 * 3600 - 1)).toBe('20191231');
  });

  it('handles leap years and month ends', () => {
    expect(shiftDateTime('20200228', DAY)).toBe('20200229');
    expect(shiftDateTime('20210228', DAY)).toBe('20210301');
    expect(shiftDateTime('20000229', 365 * DAY)).toBe('20010228');
  });

  it('shifts a year-month from the middle of the month and writes it back at that precision', () => {
    expect(shiftDateTime('202001', 15 * DAY)).toBe('202001');
    expect(shiftDateTime('202001', 16 * DAY)).toBe('202002');
    expect(shiftDateTime('202002', -14 * DAY)).toBe('202002');
    expect(shiftDateTime('202002', -15 * DAY)).toBe('202001');
  });

  it('shifts a bare year from July 1', () => {
    expect(shiftDateTime('2020', 183 * DAY)).toBe('2020');
    expect(shiftDateTime('2020', 184 * DAY)).toBe('2021');
    expect(shiftDateTime('0099', -DAY)).toBe('0099');
  });

  it('fills missing minutes and seconds with the half and keeps what DT carries through', () => {
    expect(shiftDateTime('2020010123', 30 * 60)).toBe('2020010200');
    expect(shiftDateTime('202001012359', 30)).toBe('202001020000');
    expect(shiftDateTime('20200101235959.123456-0500', 1)).toBe('20200102000000.123456-0500');
  });

  it('refuses what is not a valid DICOM date or date-time', () => {
    for (const bad of [
      '',
      '2020-01-01',
      '2020011',
      '20201301',
      '20200230',
      '2020010124',
      '20200101126000',
      'Doe^John',
    ]) {
      expect(shiftDateTime(bad, DAY)).toBeUndefined();
    }
  });
});

describe('unitSeconds', () => {
  it("knows DicomEdit's units in any case, a year being 365 days", () => {
    expect(['years', 'Days', 'HOURS', 'minutes', 'seconds'].map(unitSeconds)).toEqual([365 * DAY, DAY, 3600, 60, 1]);
    expect(unitSeconds('weeks')).toBeUndefined();
  });
});
