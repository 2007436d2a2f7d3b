//! Keyed, per-subject date shifting: one offset for every series of a subject, on any day.
// The offset comes from HMAC(project key, "date-offset", issuer, patient id), so it needs no
// state, is the same in the daemon and the offline command, and cannot be guessed without the key.
import type { ProjectKey } from './keys.ts';

export interface DateShift {
  readonly unit: 'days' | 'weeks';
  readonly minDays: number;
  readonly maxDays: number;
}

/** Days to subtract from every date of this subject (whole weeks when unit is 'weeks', keeping weekdays). */
export function subjectOffsetDays(key: ProjectKey, issuer: string, patientId: string, s: DateShift): number {
  const n = key.derive('date-offset', issuer, patientId).readUInt32BE(0);
  if (s.unit === 'weeks') {
    const lo = Math.ceil(s.minDays / 7);
    const hi = Math.max(lo, Math.floor(s.maxDays / 7));
    return (lo + (n % (hi - lo + 1))) * 7;
  }
  return s.minDays + (n % (s.maxDays - s.minDays + 1));
}

const DA = /^(\d{4})(\d{2})(\d{2})$/;

/** A DA value shifted back by `days`, or null when it is not a valid full date (PS3.5 YYYYMMDD). */
export function shiftDate(value: string, days: number): string | null {
  const m = DA.exec(value);
  if (!m) {
    return null;
  }
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const t = Date.UTC(y, mo - 1, d);
  const check = new Date(t);
  if (check.getUTCFullYear() !== y || check.getUTCMonth() !== mo - 1 || check.getUTCDate() !== d) {
    return null;
  }
  const shifted = new Date(t - days * 86_400_000);
  const yy = shifted.getUTCFullYear();
  if (yy < 1) {
    return null;
  }
  return `${String(yy).padStart(4, '0')}${String(shifted.getUTCMonth() + 1).padStart(2, '0')}${String(shifted.getUTCDate()).padStart(2, '0')}`;
}

/** A DT value with its date part shifted (time and UTC offset kept), or null when the date part is not a full date. */
export function shiftDateTime(value: string, days: number): string | null {
  const date = shiftDate(value.slice(0, 8), days);
  return date === null ? null : date + value.slice(8);
}
