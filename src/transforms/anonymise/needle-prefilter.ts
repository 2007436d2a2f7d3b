//! Which needles can occur in an instance's header at all: one substring search over its bytes.
// The per-element matcher (needle-match.ts) then runs only for the needles found here. A series'
// header usually holds none, so verification costs a pass per file rather than a search per element.
import type { Charset } from '../../dicom/charset.ts';
import { fold, NON_ASCII } from './fold.ts';

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
