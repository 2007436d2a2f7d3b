//! How a needle is recognised in an element's text: by token, in one pass per element.
// Matching is by token, not raw substring: a 5-digit patient ID must not "match" inside the 39 digits
// of a new 2.25 UID, nor a name prefix like "pre" inside "PREDECESSOR". Text is compared decoded (see
// dicom/charset.ts) and folded (NFKC, then upper case), so "MÜLLER" in Latin-1 matches "Müller" taken
// from a UTF-8 name, and full-width letters match their ASCII. Needles of scripts written without
// spaces (Han, kana, Hangul) match anywhere in a value.
import { fold } from './fold.ts';
import { UNSPACED, type NeedleKind } from './needles.ts';

/** Compiled regular expressions by needle list: a series' instances share most of their needles. */
const compiled = new Map<string, RegExp>();

const escape = (v: string): string => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One expression matching any of `values`, longest first, each bounded by a character outside
 * `token` (a class body) unless `bounded` is false. Keyed by the list as given, so the sort and
 * escaping run only when a list is new (once per series, not once per instance).
 */
export function tokenRegExp(values: readonly string[], flags: string, token: string, bounded = true): RegExp {
  const key = `${flags}/${token}/${String(bounded)}/${JSON.stringify(values)}`;
  let re = compiled.get(key);
  if (!re) {
    if (compiled.size >= 256) {
      compiled.clear();
    }
    const alternatives = [...new Set(values)].sort((a, b) => b.length - a.length || (a < b ? -1 : 1)).map(escape);
    const body = `(?:${alternatives.join('|')})`;
    re = new RegExp(bounded ? `(?<![${token}])${body}(?![${token}])` : body, flags);
    compiled.set(key, re);
  }
  return re;
}

/** A token character for text needles: a letter or digit of any script. */
export const WORD = '\\p{L}\\p{N}';
const UID_RUN = /[0-9.]+/g;
const DIGIT_RUN = /[0-9]+/g;
const UID_CHARS = /^[0-9.]+$/;

/** Where a value was found, which decides which needles apply to it. */
export interface ValueKind {
  /** A code value from a controlled vocabulary ("TEST", "DCM"): text needles are not searched. */
  readonly coded: boolean;
  /** A name or free text (PN, LO, SH, ST, LT, UT, UC): short name parts are searched too. */
  readonly freeText: boolean;
}

/** Text needles as expressions over folded text: bounded by letters and digits, or not (unspaced scripts). */
interface TextExpressions {
  readonly bounded: RegExp | null;
  readonly unbounded: RegExp | null;
}

function textExpressions(folded: readonly string[]): TextExpressions {
  const bounded = folded.filter((v) => !UNSPACED.test(v));
  const unbounded = folded.filter((v) => UNSPACED.test(v));
  return {
    bounded: bounded.length ? tokenRegExp(bounded, 'u', WORD) : null,
    unbounded: unbounded.length ? tokenRegExp(unbounded, 'u', WORD, false) : null,
  };
}

function testText(e: TextExpressions, folded: string): boolean {
  return (e.bounded?.test(folded) ?? false) || (e.unbounded?.test(folded) ?? false);
}

/**
 * A test for any of `needles` (from collectNeedles) in an element's decoded text. One pass per
 * element instead of one search per needle:
 * - uid: a maximal run of digits and dots equal to the UID (a patient ID does not "match" inside
 *   the digits of a new 2.25 UID);
 * - date: a maximal run of digits that starts with the date (DA, or the date part of a DT);
 * - text: folded (NFKC, upper case), bounded by anything but a letter or digit (any script), or
 *   anywhere for unspaced scripts; not searched in code values;
 * - word: as text, in names and free text only.
 */
export function compileMatcher(needles: ReadonlySet<string>): (text: string, where: ValueKind) => boolean {
  const uids = new Set<string>();
  const dates = new Set<string>();
  const odd: string[] = [];
  const texts: string[] = [];
  const words: string[] = [];
  for (const n of needles) {
    const i = n.indexOf(':');
    const kind = n.slice(0, i) as NeedleKind;
    const value = n.slice(i + 1);
    if (value === '') {
      continue;
    }
    if (kind === 'uid') {
      if (UID_CHARS.test(value)) {
        uids.add(value);
      } else {
        odd.push(value);
      }
    } else if (kind === 'date') {
      dates.add(value);
    } else if (kind === 'word') {
      words.push(fold(value));
    } else {
      texts.push(fold(value));
    }
  }
  // A malformed UI value (letters, spaces) is searched as a string bounded like any UID.
  const oddRe = odd.length ? tokenRegExp(odd, '', '0-9.') : null;
  const textRe = texts.length ? textExpressions(texts) : null;
  const wordRe = words.length ? textExpressions(words) : null;
  return (text, where) => {
    if (uids.size) {
      for (const m of text.matchAll(UID_RUN)) {
        if (uids.has(m[0])) {
          return true;
        }
      }
    }
    if (dates.size) {
      for (const m of text.matchAll(DIGIT_RUN)) {
        if (m[0].length >= 8 && dates.has(m[0].slice(0, 8))) {
          return true;
        }
      }
    }
    if (oddRe?.test(text)) {
      return true;
    }
    if (where.coded || (!textRe && !(wordRe && where.freeText))) {
      return false;
    }
    const folded = fold(text);
    return (
      (textRe !== null && testText(textRe, folded)) || (where.freeText && wordRe !== null && testText(wordRe, folded))
    );
  };
}
