//! The needles: original identifying values, collected from the elements the profile removes or replaces.
// A needle is "kind:value" (NeedleKind). The profile collects them while it edits an instance;
// verification then looks for them in the header as written (needle-prefilter.ts, needle-match.ts)
// and Clean Descriptors replaces them in the free text it keeps (needle-scrub.ts). Scripts written
// without spaces (Han, kana, Hangul) have no word boundaries: their name parts count from 2
// characters, and they match anywhere in a value.
import type { Element } from '../../dicom/dataset.ts';
import type { Charset } from '../../dicom/charset.ts';
import { keywordOf } from '../../dicom/dictionary.ts';

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
export const UNSPACED = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]/u;

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
