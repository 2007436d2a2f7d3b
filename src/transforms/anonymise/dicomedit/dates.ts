//! DA/DT shifting as DicomEdit 6 does it (DefaultDicomDateTimeShifter, MidPointDateTimeFactory).
// A value with missing precision is placed at the midpoint of what it names (a bare year is July 1,
// a date is noon), shifted, then written back at the input's precision. Fractional seconds and the
// UTC offset are carried through unchanged and take no part in the arithmetic.

const DATE_TIME = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\.\d{1,6})?([+-]\d{4})?$/;

// DicomEdit's DicomDateTimeShifter.toSeconds: a "year" is 365 days.
const UNIT_SECONDS: Readonly<Record<string, number>> = {
  years: 365 * 86_400,
  days: 86_400,
  hours: 3_600,
  minutes: 60,
  seconds: 1,
};

/** Seconds per unit ("days", "hours" …, any case), or undefined for a unit DicomEdit does not know. */
export function unitSeconds(units: string): number | undefined {
  return UNIT_SECONDS[units.toLowerCase()];
}

function daysInMonth(year: number, month: number): number {
  return [31, isLeap(year) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1] ?? 0;
}

function isLeap(year: number): boolean {
  return (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
}

const pad = (n: number, width: number): string => String(n).padStart(width, '0');

/** One DA or DT value shifted by `seconds`; undefined when it is not a valid DICOM date/time. */
export function shiftDateTime(value: string, seconds: number): string | undefined {
  const m = DATE_TIME.exec(value);
  if (!m) {
    return undefined;
  }
  const [, y = '', mo, d, h, mi, s, fraction = '', zone = ''] = m;
  const year = Number(y);
  const month = mo === undefined ? 7 : Number(mo);
  if (month < 1 || month > 12) {
    return undefined;
  }
  const monthDays = daysInMonth(year, month);
  const day = d !== undefined ? Number(d) : mo !== undefined ? Math.floor(monthDays / 2) + 1 : 1;
  const hour = h !== undefined ? Number(h) : d !== undefined ? 12 : mo !== undefined && monthDays % 2 === 1 ? 12 : 0;
  const minute = mi !== undefined ? Number(mi) : h !== undefined ? 30 : 0;
  const second = s !== undefined ? Number(s) : mi !== undefined ? 30 : 0;
  if (day < 1 || day > monthDays || hour > 23 || minute > 59 || second > 59) {
    return undefined;
  }
  const start = new Date(0);
  // setUTCFullYear, unlike Date.UTC, does not read years 0-99 as 1900-1999.
  start.setUTCFullYear(year, month - 1, day);
  start.setUTCHours(hour, minute, second, 0);
  const t = new Date(start.getTime() + seconds * 1000);
  const fields: [string | undefined, string][] = [
    [mo, pad(t.getUTCMonth() + 1, 2)],
    [d, pad(t.getUTCDate(), 2)],
    [h, pad(t.getUTCHours(), 2)],
    [mi, pad(t.getUTCMinutes(), 2)],
    [s, pad(t.getUTCSeconds(), 2) + fraction],
  ];
  let out = pad(t.getUTCFullYear(), 4);
  for (const [present, text] of fields) {
    if (present === undefined) {
      break;
    }
    out += text;
  }
  return out + zone;
}
