//! The original values verification searches for, and how a match is recognised.
// A needle is "kind:value". Matching is by token, not raw substring: a 5-digit patient ID must not
// "match" inside the 39 digits of a new 2.25 UID, nor a name prefix like "pre" inside "PREDECESSOR".
// Text is compared decoded (see dicom/charset.ts) and folded (NFKC, then upper case), so "MÜLLER"
// in Latin-1 matches "Müller" taken from a UTF-8 name, and full-width letters match their ASCII.
// Scripts written without spaces (Han, kana, Hangul) have no word boundaries: their needles match
// anywhere in a value.
import type { Element } from '../../dicom/dataset.ts';
import type { Charset } from '../../dicom/charset.ts';
import { keywordOf } from '../../dicom/dictionary.ts';
import { fold, NON_ASCII } from './fold.ts';

/**
 * uid: a UID; date: a DA or a DT's date part; text: a name part of 3 characters or more, an ID, a
 * number, an address …, searched in every value but code values; word: a name part of 2
 * characters ("Li", "Na"), searched as a whole word in names and free text only.
 */
export type NeedleKind = 'uid' | 'date' | 'text' | 'word';

/**
 * Text attributes whose values identify a patient or a person: IDs, numbers, addresses, phones,
 * names, comments. Device, institution and descriptor text is removed by the profile as well, but
 * its words ("CT", "Here", "Radiology") are too generic to search for everywhere.
 */
const IDENTIFYING_KEYWORD = /(ID|IDs|Number|Numbers|Address|Telephone\w*|Locator|Name|Names|Comments|Rank)$/;
const NOT_PERSONAL =
  /^(Institution|Station|Device|Manufacturer|Detector|Gantry|Source|Software|Plate|Cassette|Protocol|Series|Study(?!ID)|Code|Coding|Storage|Private)/;
const TEXT_VRS = new Set(['LO', 'SH', 'LT', 'ST', 'UT', 'UC']);
/** Han, Hiragana, Katakana (full and half width) and Hangul: scripts written without spaces between words. */
const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

export function needle(kind: NeedleKind, value: string): string {
  return `${kind}:${value}`;
}

/** The values of a decoded text element, padding removed. */
function values(text: string): string[] {
  const raw = text.replace(/[\0 ]+$/, '');
  return raw === '' ? [] : raw.split('\\').map((v) => v.replace(/^ +| +$/g, ''));
}

/** Characters (code points, not UTF-16 units) in `s`: a kanji outside the BMP counts once. */
function length(s: string): number {
  let n = 0;
  for (const c of s) {
    if (c) {
      n++;
    }
  }
  return n;
}

/** Name parts worth searching: family, given and middle (prefixes and suffixes such as "Dr", "Jr" are not identifying). */
function nameNeedles(value: string, into: Set<string>): void {
  for (const group of value.split('=')) {
    const parts = group
      .split('^')
      .slice(0, 3)
      .map((p) => p.trim())
      .filter((p) => p !== '');
    for (const p of parts) {
      const n = length(p);
      if (UNSPACED.test(p) ? n >= 2 : n >= 3) {
        into.add(needle('text', p));
      } else if (n === 2) {
        into.add(needle('word', p));
      }
    }
    // "山田^太郎" is written "山田太郎": the run is searched too (single-character parts such as 王 only this way).
    if (parts.some((p) => UNSPACED.test(p)) && parts.length > 1) {
      into.add(needle('text', parts.join('')));
    }
  }
}

/** Needles of names and text by value: every instance of a series repeats the same names. */
const textNeedles = new Map<string, readonly string[]>();

/** Adds the needles an element's original value leaves when it is removed or replaced. */
export function collectNeedles(el: Element, into: Set<string>, charset: Charset): void {
  if (!el.value || el.items || el.value.length === 0) {
    return;
  }
  const vr = el.vr;
  if (vr === 'UI' || vr === 'DA' || vr === 'DT') {
    for (const v of values(el.value.toString('latin1'))) {
      if (vr === 'UI') {
        if (v.length >= 8) {
          into.add(needle('uid', v));
        }
      } else if (/^\d{8}/.test(v)) {
        into.add(needle('date', v.slice(0, 8)));
      }
    }
    return;
  }
  if (vr !== 'PN' && !TEXT_VRS.has(vr)) {
    return;
  }
  const key = `${vr === 'PN' ? 'PN' : String(el.tag)}\0${charset.id}\0${el.value.toString('latin1')}`;
  let found = textNeedles.get(key);
  if (!found) {
    found = textNeedlesOf(el, charset);
    if (textNeedles.size >= 4096) {
      textNeedles.clear();
    }
    textNeedles.set(key, found);
  }
  for (const n of found) {
    into.add(n);
  }
}

function textNeedlesOf(el: Element, charset: Charset): readonly string[] {
  const out = new Set<string>();
  if (!el.value) {
    return [];
  }
  if (el.vr === 'PN') {
    for (const v of values(charset.decode(el.value))) {
      nameNeedles(v, out);
    }
    return [...out];
  }
  const k = keywordOf(el.tag) ?? '';
  if (!IDENTIFYING_KEYWORD.test(k) || NOT_PERSONAL.test(k)) {
    return [];
  }
  for (const v of values(charset.decode(el.value))) {
    if (length(v) >= 3) {
      out.add(needle('text', v));
    }
  }
  return [...out];
}

/** Compiled regular expressions by needle list: a series' instances share most of their needles. */
const compiled = new Map<string, RegExp>();

const escape = (v: string): string => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One expression matching any of `values`, longest first, each bounded by a character outside
 * `token` (a class body) unless `bounded` is false. Keyed by the list as given, so the sort and
 * escaping run only when a list is new (once per series, not once per instance).
 */
function tokenRegExp(values: readonly string[], flags: string, token: string, bounded = true): RegExp {
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

const WORD = '\\p{L}\\p{N}';
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

/**
 * The needles whose value occurs anywhere in `bytes` as a plain substring of the character set's
 * haystack (and of the Latin-1 reading, for binary values), text and word needles compared folded
 * as compileMatcher compares them. Every element value is a byte range of these buffers, and
 * folding maps character by character, so a needle the matcher finds in any value is among these:
 * the per-element search is needed only for them (a series' header usually holds none). When the
 * character set cannot give a haystack (ISO 2022, double-byte sets), every needle is returned.
 */
export function presentIn(needles: ReadonlySet<string>, bytes: readonly Buffer[], charset: Charset): Set<string> {
  const present = new Set<string>();
  if (needles.size === 0) {
    return present;
  }
  const plan = prefilterPlan(needles);
  // A non-ASCII needle may sit in a binary value as Latin-1 bytes whatever the character set; an
  // ASCII one reads the same in every haystack (no decoder swallows an ASCII byte).
  const latin1Too = plan.nonAscii && charset.terms[0] !== 'ISO_IR 100' && charset.terms[0] !== '';
  const parts: string[] = [];
  for (const b of bytes) {
    const h = charset.haystack(b);
    if (h === null) {
      return new Set(needles);
    }
    parts.push(h);
    if (latin1Too) {
      parts.push(b.toString('latin1'));
    }
  }
  const hay = parts.join('\n');
  for (const [n, value] of plan.raw) {
    if (hay.includes(value)) {
      present.add(n);
    }
  }
  if (plan.folded.length) {
    const folded = fold(hay);
    for (const [n, value] of plan.folded) {
      if (folded.includes(value)) {
        present.add(n);
      }
    }
  }
  return present;
}

/** A needle list split for presentIn: UIDs and dates as they are, text and words folded. */
interface PrefilterPlan {
  readonly raw: readonly (readonly [string, string])[];
  readonly folded: readonly (readonly [string, string])[];
  readonly nonAscii: boolean;
}

/** Plans by needle list: every instance of a series brings the same names and dates again. */
const plans = new Map<string, PrefilterPlan>();

function prefilterPlan(needles: ReadonlySet<string>): PrefilterPlan {
  const key = [...needles].join('\n');
  let plan = plans.get(key);
  if (!plan) {
    const raw: [string, string][] = [];
    const folded: [string, string][] = [];
    for (const n of needles) {
      const value = n.slice(n.indexOf(':') + 1);
      if (value === '') {
        continue;
      }
      if (n.startsWith('text:') || n.startsWith('word:')) {
        folded.push([n, fold(value)]);
      } else {
        raw.push([n, value]);
      }
    }
    plan = { raw, folded, nonAscii: NON_ASCII.test(key) };
    if (plans.size >= 256) {
      plans.clear();
    }
    plans.set(key, plan);
  }
  return plan;
}

/** What a free-text value becomes when a match survives replacement in place (full-width forms, …). */
export const SCRUBBED = 'XXX';

/**
 * A function replacing every token occurrence of the text, word and date needles with "XXX" (Clean
 * Descriptors, and unlisted free text): one expression per needle list, longest needle first, case
 * insensitive. When a needle is still found afterwards (a compatibility form the expression does
 * not see, e.g. full-width letters), the whole value becomes "XXX".
 */
export function compileScrub(needles: ReadonlySet<string>): (value: string) => string {
  const kept = [...needles].filter((n) => n.startsWith('text:') || n.startsWith('word:') || n.startsWith('date:'));
  // The instances of a series share their names and dates, so the same list comes again and again.
  const key = kept.join('\n');
  let scrub = scrubs.get(key);
  if (!scrub) {
    scrub = buildScrub(kept);
    if (scrubs.size >= 256) {
      scrubs.clear();
    }
    scrubs.set(key, scrub);
  }
  return scrub;
}

const scrubs = new Map<string, (value: string) => string>();

function buildScrub(kept: readonly string[]): (value: string) => string {
  const texts = kept.map((n) => n.slice(n.indexOf(':') + 1).normalize('NFC')).filter((v) => v !== '');
  if (texts.length === 0) {
    return (v) => v;
  }
  const bounded = texts.filter((v) => !UNSPACED.test(v));
  const unbounded = texts.filter((v) => UNSPACED.test(v));
  const res = [
    ...(bounded.length ? [tokenRegExp(bounded, 'giu', WORD)] : []),
    ...(unbounded.length ? [tokenRegExp(unbounded, 'giu', WORD, false)] : []),
  ];
  const check = compileMatcher(new Set(kept));
  return (v) => {
    let out = v.normalize('NFC');
    for (const re of res) {
      out = out.replace(re, SCRUBBED);
    }
    if (out === v.normalize('NFC')) {
      out = v;
    }
    return check(out, { coded: false, freeText: true }) ? SCRUBBED : out;
  };
}
