//! A pull list cell's value checked: C-FIND key values (exact match, no wildcards) and study dates (real dates, unambiguous orders).

/** Whitespace a spreadsheet cell can carry unseen: spaces, tabs, NBSP, zero-width characters, BOM. */
export const EDGE_SPACE =
  /^(?:\s|\u00a0|\u200b|\u200c|\u200d|\u2060|\ufeff)+|(?:\s|\u00a0|\u200b|\u200c|\u200d|\u2060|\ufeff)+$/g;

// eslint-disable-next-line no-control-regex -- control characters are what this refuses.
export const CONTROL = /[\x00-\x1f\x7f]/;

/** Checks a value for an exact-match C-FIND key of VR SH (16) or LO (64); a reason, or null. */
export function keyProblem(name: string, v: string, max: number): string | null {
  if (v.length > max) {
    return `${name} has ${String(v.length)} characters (at most ${String(max)})`;
  }
  if (v.includes('\\')) {
    return `${name} contains a backslash (a DICOM value separator)`;
  }
  if (/[*?]/.test(v)) {
    return `${name} contains * or ? (wildcards): exact matching needs the literal value`;
  }
  if (CONTROL.test(v)) {
    return `${name} contains a control character`;
  }
  return null;
}

function isRealDate(da: string): boolean {
  if (!/^\d{8}$/.test(da)) {
    return false;
  }
  const y = Number(da.slice(0, 4));
  const m = Number(da.slice(4, 6));
  const d = Number(da.slice(6, 8));
  const t = new Date(Date.UTC(y, m - 1, d));
  return y >= 1900 && t.getUTCFullYear() === y && t.getUTCMonth() === m - 1 && t.getUTCDate() === d;
}

/** YYYYMMDD from YYYYMMDD, YYYY-MM-DD or YYYY.MM.DD; null when not a real date in one of those. */
export function parseDate(v: string): string | null {
  const m = /^(\d{4})[-.]?(\d{2})[-.]?(\d{2})$/.exec(v);
  if (!m) {
    return null;
  }
  const da = `${m[1] ?? ''}${m[2] ?? ''}${m[3] ?? ''}`;
  return isRealDate(da) ? da : null;
}

export const DATE_HELP =
  'dates are YYYYMMDD or YYYY-MM-DD (day/month orders such as 01/02/2024 are ambiguous and refused)';

/** A StudyDate cell: one date, or a range "A-B" / "A to B" (DICOM range matching, inclusive). */
export function parseDateCell(v: string): { from: string; to: string } | string {
  const one = parseDate(v);
  if (one) {
    return { from: one, to: one };
  }
  const m = /^(\S+?)\s*(?:-|–|\bto\b)\s*(\S+)$/.exec(v);
  if (m?.[1] && m[2]) {
    const a = parseDate(m[1]);
    const b = parseDate(m[2]);
    if (a && b) {
      return { from: a, to: b };
    }
  }
  return `StudyDate "${v}" is not a date or date range: ${DATE_HELP}`;
}
