//! The original values verification searches for, and how a match is recognised.
// A needle is "kind:value". Matching is by token, not raw substring: a 5-digit patient ID must not
// "match" inside the 39 digits of a new 2.25 UID, nor a name prefix like "pre" inside "PREDECESSOR".
import type { Element } from '../../dicom/dataset.ts';
import { keywordOf } from '../../dicom/dictionary.ts';
import { textValues } from '../../dicom/values.ts';

export type NeedleKind = 'uid' | 'date' | 'text';

/**
 * Text attributes whose values identify a patient or a person: IDs, numbers, addresses, phones,
 * names, comments. Device, institution and descriptor text is removed by the profile as well, but
 * its words ("CT", "Here", "Radiology") are too generic to search for everywhere.
 */
const IDENTIFYING_KEYWORD = /(ID|IDs|Number|Numbers|Address|Telephone\w*|Locator|Name|Names|Comments|Rank)$/;
const NOT_PERSONAL = /^(Institution|Station|Device|Manufacturer|Detector|Gantry|Source|Software|Plate|Cassette|Protocol|Series|Study(?!ID)|Code|Coding|Storage|Private)/;

export function needle(kind: NeedleKind, value: string): string {
  return `${kind}:${value}`;
}

/** Adds the needles an element's original value leaves when it is removed or replaced. */
export function collectNeedles(el: Element, into: Set<string>): void {
  if (!el.value || el.items || el.value.length === 0) {return;}
  const vr = el.vr;
  for (const v of textValues(el)) {
    if (vr === 'UI') {
      if (v.length >= 8) {into.add(needle('uid', v));}
    } else if (vr === 'DA' || vr === 'DT') {
      if (/^\d{8}/.test(v)) {into.add(needle('date', v.slice(0, 8)));}
    } else if (vr === 'PN') {
      for (const group of v.split('=')) {
        // Family, given and middle names; prefixes and suffixes ("Dr", "pre", "Jr") are not identifying.
        const parts = group.split('^').slice(0, 3).filter((p) => p.trim().length >= 3);
        for (const p of parts) {into.add(needle('text', p.trim()));}
      }
    } else if (['LO', 'SH', 'LT', 'ST', 'UT', 'UC'].includes(vr)) {
      const k = keywordOf(el.tag) ?? '';
      if (v.length >= 3 && IDENTIFYING_KEYWORD.test(k) && !NOT_PERSONAL.test(k)) {into.add(needle('text', v));}
    }
  }
}

/** Compiled regular expressions by needle list: a series' instances share most of their needles. */
const compiled = new Map<string, RegExp>();

const escape = (v: string): string => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * One expression matching any of `values`, longest first, each bounded by a character outside
 * `token` (a class body). Keyed by the list as given, so the sort and escaping run only when a
 * list is new (once per series, not once per instance).
 */
function tokenRegExp(values: readonly string[], flags: string, token = 'A-Za-z0-9'): RegExp {
  const key = `${flags}/${token}/${JSON.stringify(values)}`;
  let re = compiled.get(key);
  if (!re) {
    if (compiled.size >= 256) {compiled.clear();}
    const alternatives = [...new Set(values)].sort((a, b) => b.length - a.length || (a < b ? -1 : 1)).map(escape);
    re = new RegExp(`(?<![${token}])(?:${alternatives.join('|')})(?![${token}])`, flags);
    compiled.set(key, re);
  }
  return re;
}

const UID_RUN = /[0-9.]+/g;
const DIGIT_RUN = /[0-9]+/g;
const UID_CHARS = /^[0-9.]+$/;

/**
 * A test for any of `needles` (from collectNeedles) in an element's text, decoded as latin1. One
 * pass per element instead of one search per needle:
 * - uid: a maximal run of digits and dots equal to the UID (a patient ID does not "match" inside
 *   the digits of a new 2.25 UID);
 * - date: a maximal run of digits that starts with the date (DA, or the date part of a DT);
 * - text: case-insensitive (both upper-cased), bounded by non-alphanumerics; not searched in
 *   code values (`coded`), which come from controlled vocabularies ("TEST", "DCM").
 */
export function compileMatcher(needles: ReadonlySet<string>): (text: string, coded: boolean) => boolean {
  const uids = new Set<string>();
  const dates = new Set<string>();
  const odd: string[] = [];
  const texts: string[] = [];
  for (const n of needles) {
    const i = n.indexOf(':');
    const kind = n.slice(0, i) as NeedleKind;
    const value = n.slice(i + 1);
    if (value === '') {continue;}
    if (kind === 'uid') {
      if (UID_CHARS.test(value)) {uids.add(value);} else {odd.push(value);}
    } else if (kind === 'date') {dates.add(value);}
    else {texts.push(value.toUpperCase());}
  }
  // A malformed UI value (letters, spaces) is searched as a string bounded like any UID.
  const oddRe = odd.length ? tokenRegExp(odd, '', '0-9.') : null;
  const textRe = texts.length ? tokenRegExp(texts, '') : null;
  return (text, coded) => {
    if (uids.size) {
      for (const m of text.matchAll(UID_RUN)) {if (uids.has(m[0])) {return true;}}
    }
    if (dates.size) {
      for (const m of text.matchAll(DIGIT_RUN)) {if (m[0].length >= 8 && dates.has(m[0].slice(0, 8))) {return true;}}
    }
    if (oddRe?.test(text)) {return true;}
    return !coded && textRe !== null && textRe.test(text.toUpperCase());
  };
}

/**
 * The needles whose value occurs anywhere in `bytes` (decoded as latin1) as a plain substring,
 * text needles compared upper-cased as compileMatcher compares them. Every element value is a
 * byte range of these buffers, and upper-casing maps character by character, so a needle the
 * matcher finds in any value is among these: the per-element search is needed only for them (a
 * series' header usually holds none).
 */
export function presentIn(needles: ReadonlySet<string>, bytes: readonly Buffer[]): Set<string> {
  const present = new Set<string>();
  if (needles.size === 0) {return present;}
  const hay = bytes.map((b) => b.toString('latin1')).join('\n');
  let upper: string | null = null;
  for (const n of needles) {
    const i = n.indexOf(':');
    const value = n.slice(i + 1);
    if (value === '') {continue;}
    if (n.startsWith('text')) {
      upper ??= hay.toUpperCase();
      if (upper.includes(value.toUpperCase())) {present.add(n);}
    } else if (hay.includes(value)) {present.add(n);}
  }
  return present;
}

/**
 * A function replacing every token occurrence of the text and date needles with "XXX" (Clean
 * Descriptors): one regular expression per needle list, longest needle first.
 */
export function compileScrub(needles: ReadonlySet<string>): (value: string) => string {
  const texts = [...needles].filter((n) => n.startsWith('text:') || n.startsWith('date:')).map((n) => n.slice(n.indexOf(':') + 1)).filter((v) => v !== '');
  if (texts.length === 0) {return (v) => v;}
  const re = tokenRegExp(texts, 'gi');
  return (v) => v.replace(re, 'XXX');
}
