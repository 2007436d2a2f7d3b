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

function isWordChar(c: string | undefined): boolean {
  return c !== undefined && /[A-Za-z0-9]/.test(c);
}

function isUidChar(c: string | undefined): boolean {
  return c !== undefined && /[0-9.]/.test(c);
}

/** True when `needle` (from collectNeedles) occurs in `text` as a token of its kind. */
export function occursIn(text: string, n: string): boolean {
  const kind = n.slice(0, n.indexOf(':')) as NeedleKind;
  const value = n.slice(n.indexOf(':') + 1);
  const hay = kind === 'text' ? text.toUpperCase() : text;
  const pin = kind === 'text' ? value.toUpperCase() : value;
  for (let at = hay.indexOf(pin); at >= 0; at = hay.indexOf(pin, at + 1)) {
    const before = hay[at - 1];
    const after = hay[at + pin.length];
    if (kind === 'uid' && !isUidChar(before) && !isUidChar(after)) {return true;}
    if (kind === 'date' && !/[0-9]/.test(before ?? '')) {return true;}
    if (kind === 'text' && !isWordChar(before) && !isWordChar(after)) {return true;}
  }
  return false;
}

/**
 * A function replacing every token occurrence of the text and date needles with "XXX" (Clean
 * Descriptors): one regular expression per instance, longest needle first.
 */
export function compileScrub(needles: ReadonlySet<string>): (value: string) => string {
  const texts = [...needles].filter((n) => n.startsWith('text:') || n.startsWith('date:')).map((n) => n.slice(n.indexOf(':') + 1));
  if (texts.length === 0) {return (v) => v;}
  const alternatives = texts.sort((a, b) => b.length - a.length).map((v) => v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  const re = new RegExp(`(?<![A-Za-z0-9])(?:${alternatives.join('|')})(?![A-Za-z0-9])`, 'gi');
  return (v) => v.replace(re, 'XXX');
}
