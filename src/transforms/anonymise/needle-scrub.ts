//! Clean Descriptors: the needles replaced with SCRUBBED (three capital X) where free text is kept rather than removed.
// Uses the matcher's expressions (needle-match.ts) so a value is scrubbed exactly where verification
// would find a needle, and checked with the matcher afterwards: a value it still flags becomes SCRUBBED.
import { compileMatcher, tokenRegExp, WORD } from './needle-match.ts';
import { UNSPACED } from './needles.ts';

/** What a free-text value becomes when a match survives replacement in place (full-width forms, …). */
export const SCRUBBED = 'XXX';

/**
 * A function replacing every token occurrence of the text, word and date needles with SCRUBBED (Clean
 * Descriptors, and unlisted free text): one expression per needle list, longest needle first, case
 * insensitive. When a needle is still found afterwards (a compatibility form the expression does
 * not see, e.g. full-width letters), the whole value becomes SCRUBBED.
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
