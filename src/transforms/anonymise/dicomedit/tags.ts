//! DicomEdit tag patterns ((gggg,eeee), X/#/@ digit wildcards, private {Creator}xx) and path matching.
// Digit wildcards follow DicomEdit 6's lexer: X is any hex digit, # an odd one, @ an even one. Level
// wildcards follow its TagSequenceWildcard and tests: `*` is any number of sequence levels (zero
// included), `+` one or more, `.` exactly one. A level is a sequence element and one of its items.
import { formatTag } from '../../../dicom/dictionary.ts';
import type { PathStep, TagPath } from './target.ts';

/** Pattern digits are upper-case hex, or X, # or @. A private pattern names its block by creator. */
export type TagPattern =
  | { readonly group: string; readonly element: string }
  | { readonly group: string; readonly creator: string; readonly low: string };

export type PatternStep =
  | { readonly kind: 'tag'; readonly tag: TagPattern; readonly item?: number | 'any' }
  | { readonly kind: 'levels'; readonly symbol: '*' | '+' | '.' };

/** Root-to-element steps. A sequence step without an item means any item ('%'). */
export type PathPattern = readonly PatternStep[];

const WILDCARD = /[X#@]/;

function digitMatches(pattern: string, nibble: number): boolean {
  switch (pattern) {
    case 'X':
      return true;
    case '#':
      return nibble % 2 === 1;
    case '@':
      return nibble % 2 === 0;
    default:
      return parseInt(pattern, 16) === nibble;
  }
}

/** Whether `value` (`pattern.length` hex digits) matches the pattern, most significant digit first. */
function wordMatches(pattern: string, value: number): boolean {
  for (let i = 0; i < pattern.length; i++) {
    const nibble = (value >>> (4 * (pattern.length - 1 - i))) & 0xf;
    if (!digitMatches(pattern.charAt(i), nibble)) {
      return false;
    }
  }
  return true;
}

export function isPrivatePattern(t: TagPattern): t is Extract<TagPattern, { creator: string }> {
  return 'creator' in t;
}

export function tagHasWildcards(t: TagPattern): boolean {
  return WILDCARD.test(t.group) || WILDCARD.test(isPrivatePattern(t) ? t.low : t.element);
}

/**
 * Whether a dataset tag matches. A `{Creator}xx` pattern matches data elements (gggg,bbxx) of any
 * block bb whose creator is that string (trimmed, case-sensitive), as DicomEdit resolves them.
 */
export function tagMatches(t: TagPattern, tag: number, creator: string | undefined): boolean {
  if (!wordMatches(t.group, tag >>> 16)) {
    return false;
  }
  const element = tag & 0xffff;
  if (!isPrivatePattern(t)) {
    return wordMatches(t.element, element);
  }
  const block = element >>> 8;
  return block >= 0x10 && wordMatches(t.low, element & 0xff) && creator?.trim() === t.creator;
}

/** The tag of a pattern without wildcards or creator, else undefined. */
export function exactTag(t: TagPattern): number | undefined {
  if (isPrivatePattern(t) || tagHasWildcards(t)) {
    return undefined;
  }
  return ((parseInt(t.group, 16) << 16) | parseInt(t.element, 16)) >>> 0;
}

/** One element at most: no level or digit wildcards and no item on the last step ('%' reads the first). */
export function isSingular(p: PathPattern): boolean {
  const last = p[p.length - 1];
  return last?.kind === 'tag' && last.item === undefined && p.every((s) => s.kind === 'tag' && !tagHasWildcards(s.tag));
}

/** Singular with every item named: an element that `:=` may create. Creators are allowed. */
export function isConcrete(p: PathPattern): boolean {
  return isSingular(p) && p.every((s, i) => i === p.length - 1 || (s.kind === 'tag' && typeof s.item === 'number'));
}

/** Singular without creators: the host can read it directly (its `get` handles 'any' items). */
export function toPlainPath(p: PathPattern): TagPath | undefined {
  const out: PathStep[] = [];
  for (const [i, s] of p.entries()) {
    const tag = s.kind === 'tag' ? exactTag(s.tag) : undefined;
    if (s.kind !== 'tag' || tag === undefined) {
      return undefined;
    }
    const last = i === p.length - 1;
    if (last && s.item !== undefined) {
      return undefined;
    }
    out.push(last ? { tag } : { tag, item: s.item ?? 'any' });
  }
  return out.length > 0 ? out : undefined;
}

const LEVELS = { '*': [0, Infinity], '+': [1, Infinity], '.': [1, 1] } as const;

/**
 * Whether a concrete element path matches. The pattern's last step is matched as an element (its
 * item, if any, is the caller's business); `creatorAt(i)` is the creator of the path's i-th step.
 */
export function matchPath(p: PathPattern, path: TagPath, creatorAt: (depth: number) => string | undefined): boolean {
  const go = (pi: number, ci: number): boolean => {
    const step = p[pi];
    if (step === undefined) {
      return ci === path.length;
    }
    if (step.kind === 'levels') {
      const [min, max] = LEVELS[step.symbol];
      // Levels are sequence steps, so at least the element itself must remain after them.
      for (let k = min; k <= max && ci + k < path.length; k++) {
        if (go(pi + 1, ci + k)) {
          return true;
        }
      }
      return false;
    }
    const c = path[ci];
    if (c === undefined || !tagMatches(step.tag, c.tag, creatorAt(ci))) {
      return false;
    }
    if (pi === p.length - 1) {
      return ci === path.length - 1;
    }
    if (typeof c.item !== 'number' || (typeof step.item === 'number' && step.item !== c.item)) {
      return false;
    }
    return go(pi + 1, ci + 1);
  };
  return go(0, 0);
}

/** "(0010,0010)" for messages. */
export function tagText(tag: number): string {
  return formatTag(tag >>> 0);
}

/** The pattern back in DicomEdit syntax, for messages. */
export function patternText(p: PathPattern): string {
  return p
    .map((s) => {
      if (s.kind === 'levels') {
        return s.symbol;
      }
      const t = s.tag;
      const element = isPrivatePattern(t) ? `{${t.creator}}${t.low}` : t.element;
      const item = s.item === undefined ? '' : `[${s.item === 'any' ? '%' : String(s.item)}]`;
      return `(${t.group},${element})${item}`;
    })
    .join('/');
}

/** A stable key for a concrete path, to index the host's listing. */
export function pathKey(path: TagPath): string {
  return path.map((s) => `${String(s.tag)}${s.item === undefined ? '' : `[${String(s.item)}]`}`).join('/');
}
