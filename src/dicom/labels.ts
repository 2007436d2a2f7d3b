//! XNAT project/subject/session labels: the safe character set and the PatientComments routing field.
//
// What XNAT does (public sources, see /work/shared/reference/xnat.md §1.9 and §2a):
// - XNAT's DICOM object identifiers pass every extracted subject and session label through
//   `org.nrg.xnat.Labels.toLabelChars` (dicom-xnat-util), which replaces each character matching
//   Java `[^\w-]` with `_`. Java `\w` is ASCII `[A-Za-z0-9_]` (no UNICODE_CHARACTER_CLASS), so
//   the valid set is `[A-Za-z0-9_-]` (`Labels.isValidLabel`: `[\w-]+`). We match that set and
//   that replacement character exactly.
// - The comment-field extractor (`ContainedAssignmentExtractor`) only accepts `[\w\-]*` values
//   followed by whitespace, `,`, `;` or the end: a value with any other character does not match
//   at all, so labels written into (0010,4000) must already be safe.
// - An empty session label becomes "dicom_upload" (XNAT's session fallback).
// Our own additions, not XNAT's: runs of `_` are collapsed and leading/trailing `_` trimmed (so
// "DOE^JOHN " gives "DOE_JOHN", not "DOE_JOHN_"), and labels are capped at 64 characters because
// the label is also written into PatientID and PatientName (DICOM LO / PN: 64 characters).
// DASHER itself does no sanitising of its own (it relies on XNAT's extractors).

/** Longest label we produce: the DICOM LO (PatientID) maximum, since labels are written there too. */
export const XNAT_LABEL_MAX = 64;

/** XNAT's fallback session label when none can be extracted. */
export const XNAT_FALLBACK_LABEL = 'dicom_upload';

const SAFE_LABEL = /^[A-Za-z0-9_-]+$/;

/** True when `value` is usable as an XNAT label as it is: `[A-Za-z0-9_-]`, 1–64 characters. */
export function isXnatSafeLabel(value: string): boolean {
  return value.length <= XNAT_LABEL_MAX && SAFE_LABEL.test(value);
}

/**
 * Maps `value` to an XNAT-safe label: every character outside `[A-Za-z0-9_-]` (including `^`,
 * spaces, dots and non-ASCII letters, one per code point) becomes `_`, runs of `_` collapse to
 * one, leading and trailing `_` are trimmed and the result is cut to 64 characters. When nothing
 * is left, returns `fallback` (default "dicom_upload", XNAT's own session fallback; the caller
 * must pass a safe one).
 */
export function xnatSafeLabel(value: string, fallback: string = XNAT_FALLBACK_LABEL): string {
  const mapped = value
    .replace(/[^A-Za-z0-9_-]/gu, '_')
    .replace(/_{2,}/g, '_')
    .replace(/^_+|_+$/g, '')
    .slice(0, XNAT_LABEL_MAX)
    // The cut may end on an underscore.
    .replace(/_+$/, '');
  return mapped === '' ? fallback : mapped;
}

/** The routing keys XNAT reads from (0010,4000) PatientComments. */
export interface PatientCommentLabels {
  readonly project?: string;
  readonly subject?: string;
  readonly session?: string;
}

/**
 * The (0010,4000) PatientComments value that routes a study in XNAT: exactly
 * `Project: P Subject: S Session: E`. Throws when a label is not XNAT-safe, because XNAT's
 * extractor would then silently ignore it and route by other fields.
 */
export function formatPatientComments(project: string, subject: string, session: string): string {
  for (const [key, value] of [
    ['project', project],
    ['subject', subject],
    ['session', session],
  ] as const) {
    if (!isXnatSafeLabel(value)) {
      // The value is not repeated: a bug passing an original identifier here must not log it.
      throw new Error(`The ${key} label is not XNAT-safe ([A-Za-z0-9_-], 1 to ${String(XNAT_LABEL_MAX)} characters).`);
    }
  }
  return `Project: ${project} Subject: ${subject} Session: ${session}`;
}

/**
 * XNAT's ContainedAssignmentExtractor for one key, applied with `Matcher.matches()` (whole value):
 * case-insensitive, and `.` stops at line ends as in Java without DOTALL.
 */
function assignment(key: string): RegExp {
  return new RegExp(`^(?:.*[\\s,;])?${key}\\s*:\\s*([A-Za-z0-9_-]*)(?:[\\s,;].*)?$`, 'i');
}
const KEYS = { project: assignment('Project'), subject: assignment('Subject'), session: assignment('Session') };

/**
 * Reads `Project:`, `Subject:` and `Session:` from a PatientComments (or StudyComments) value the
 * way XNAT does: keys are case-insensitive, pairs are separated by whitespace, `,` or `;`, and a
 * value with characters outside `[A-Za-z0-9_-]` (or an empty one) counts as absent. When a key
 * appears twice, the last one wins (XNAT's leading `.*` is greedy).
 */
export function parsePatientComments(value: string): PatientCommentLabels {
  const out: { project?: string; subject?: string; session?: string } = {};
  for (const [key, re] of Object.entries(KEYS) as [keyof PatientCommentLabels, RegExp][]) {
    const m = re.exec(value);
    if (m?.[1]) {
      out[key] = m[1];
    }
  }
  return out;
}
