//! Tag → VR and keyword, from dcmjs's data dictionary (PS3.6), for implicit-VR datasets and new elements.
// dcmjs ships the dictionary with "(gggg,eeee)" tag strings. We index it once into a numeric map;
// repeating groups (50xx curves, 60xx overlays) are stored under their first group.
import { createRequire } from 'node:module';

export interface DictionaryEntry {
  readonly vr: string;
  readonly keyword: string;
  readonly vm: string;
}

interface RawEntry {
  tag: string;
  vr: string;
  vm: string;
  name: string;
}

let index: Map<number, DictionaryEntry> | null = null;
let byKeyword: Map<string, number> | null = null;

function load(): Map<number, DictionaryEntry> {
  if (index) {
    return index;
  }
  const require = createRequire(import.meta.url);
  const dcmjs = require('dcmjs') as { data: { DicomMetaDictionary: { nameMap: Record<string, RawEntry> } } };
  index = new Map();
  byKeyword = new Map();
  // `dictionary` is a lazily filled proxy; `nameMap` (keyword → entry) is a plain object.
  for (const e of Object.values(dcmjs.data.DicomMetaDictionary.nameMap)) {
    const m = /^\(([0-9A-Fa-f]{4}),([0-9A-Fa-f]{4})\)$/.exec(e.tag);
    if (!m?.[1] || !m[2]) {
      continue;
    }
    const tag = ((parseInt(m[1], 16) << 16) | parseInt(m[2], 16)) >>> 0;
    // dcmjs writes ambiguous VRs in lower case ("ox" = OB or OW, "lt" = US or OW …).
    const vr = e.vr.length === 2 && e.vr === e.vr.toUpperCase() ? e.vr : ambiguous(e.vr);
    index.set(tag, { vr, keyword: e.name, vm: e.vm });
    if (!byKeyword.has(e.name)) {
      byKeyword.set(e.name, tag);
    }
  }
  return index;
}

/** The VR we write for an ambiguous dictionary VR: the one PS3.5 allows in every transfer syntax. */
function ambiguous(vr: string): string {
  switch (vr) {
    case 'ox':
      return 'OB';
    case 'xs':
      return 'US';
    case 'lt':
      return 'OW';
    default:
      return 'UN';
  }
}

/** Groups 5000–501E and 6000–601E repeat; PS3.6 lists them once, under the first group. */
function canonical(tag: number): number {
  const group = tag >>> 16;
  if ((group & 0xff00) === 0x5000 || (group & 0xff00) === 0x6000) {
    if ((group & 1) === 0 && (group & 0xff) <= 0x1e) {
      return (((group & 0xff00) << 16) | (tag & 0xffff)) >>> 0;
    }
  }
  return tag;
}

export function lookupTag(tag: number): DictionaryEntry | undefined {
  return load().get(canonical(tag));
}

/** The VR of a public tag (UN when unknown: private tags, or tags newer than the dictionary). */
export function vrOf(tag: number): string {
  if ((tag & 0xffff) === 0 && tag >>> 16 !== 0xfffe) {
    return 'UL';
  } // group lengths
  return lookupTag(tag)?.vr ?? 'UN';
}

export function keywordOf(tag: number): string | undefined {
  return lookupTag(tag)?.keyword;
}

export function tagOfKeyword(keyword: string): number | undefined {
  load();
  return byKeyword?.get(keyword);
}

/** "(gggg,eeee)" for messages and reports. */
export function formatTag(tag: number): string {
  const h = tag.toString(16).toUpperCase().padStart(8, '0');
  return `(${h.slice(0, 4)},${h.slice(4)})`;
}
