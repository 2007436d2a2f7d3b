//! Fail-closed verification of a de-identified series before anything may be delivered.
// Parses every output file's header as written (it must parse), searches every element value at
// every depth — file meta and private elements included, pixel data excluded (never changed) —
// for the original identifying values, checks that every instance UID in the output was produced
// by this project's UID function (now or in an earlier series, per the ledger), and applies the
// structural rules of verify-rules.ts (no public UN text, no overlay group, cleaned sequences,
// declarations that match the content, consistent File Meta).
import type { WrittenFile } from '../../dicom/dataset-file.ts';
import type { Charset } from '../../dicom/charset.ts';
import { charsetOf } from '../../dicom/specific-character-set.ts';
import { parseDataset, type Element } from '../../dicom/dataset.ts';
import { encodingOf } from '../../dicom/transfer-syntax.ts';
import { PIXEL_DATA } from '../../dicom/elements.ts';
import { formatTag } from '../../dicom/dictionary.ts';
import { formatPatientComments } from '../../dicom/labels.ts';
import { parsePart10Header } from '../../dicom/part10.ts';
import { FREE_TEXT_VRS, TEXT_VRS, textValues } from '../../dicom/values.ts';
import { isDefinitionTag, isRegisteredUid } from './uids.ts';
import { compileMatcher } from './needle-match.ts';
import { presentIn } from './needle-prefilter.ts';
import { isUidCoded } from './table.ts';
import { structuralProblems, type VerifyRules } from './verify-rules.ts';

export type { VerifyRules } from './verify-rules.ts';

/** Pixel-like values: never rewritten by us, and binary noise that could contain any digit run. */
const PIXEL_TAGS = new Set([PIXEL_DATA, 0x7fe00008, 0x7fe00009]);
/** CodeValue, CodingSchemeDesignator, CodingSchemeVersion, ContextIdentifier, MappingResource, LongCodeValue, URNCodeValue. */
const CODED_TAGS = new Set([0x00080100, 0x00080102, 0x00080103, 0x0008010f, 0x00080105, 0x00080119, 0x00080120]);
const SPECIFIC_CHARACTER_SET = 0x00080005;

export interface VerifyInput {
  readonly written: WrittenFile;
  readonly transferSyntaxUid: string;
  /** The original values this file (and its series) must no longer contain. */
  readonly needles: ReadonlySet<string>;
  /** What the output must look like besides holding no needle. */
  readonly rules: VerifyRules;
}

export interface FileCheck {
  /** Problems (no values: tags and kinds only, safe for logs and /series). */
  readonly problems: string[];
  /** UI values that are not registered, not definitions and not produced in this run. */
  readonly foreignUids: Set<string>;
}

/** What putLabels writes, by tag (the verifier does not search our own labels for needles). */
function labelValues(l: VerifyRules['labels']): Map<number, string> {
  return new Map([
    [0x00100010, l.subject],
    [0x00100020, l.session],
    [0x00104000, formatPatientComments(l.project, l.subject, l.session)],
  ]);
}

function charsetIn(elements: readonly Element[], inherited: Charset): Charset {
  const cs = elements.find((e) => e.tag === SPECIFIC_CHARACTER_SET);
  return cs ? charsetOf(textValues(cs)) : inherited;
}

/**
 * Checks one written file: its header bytes as written must parse, hold no needle and no UID
 * that is not registered, a definition, or in `produced` (others are returned as foreign), and
 * follow the structural rules.
 */
export function checkFile(input: VerifyInput, produced: ReadonlySet<string>): FileCheck {
  const problems: string[] = [];
  const foreignUids = new Set<string>();
  const w = input.written;
  let parsed: { meta: Element[]; dataset: Element[] };
  try {
    const enc = encodingOf(input.transferSyntaxUid);
    if (!enc) {
      throw new Error('unknown transfer syntax');
    }
    const meta = parsePart10Header(w.meta);
    if (!meta) {
      throw new Error('no File Meta Information');
    }
    parsed = {
      meta: parseDataset(w.meta.subarray(132), { explicitVr: true, littleEndian: true, deflated: false }).elements,
      dataset: [...parseDataset(w.dataset, enc).elements, ...(w.tail ? parseDataset(w.tail, enc).elements : [])],
    };
  } catch (err) {
    return { problems: [`output does not parse (${(err as Error).message})`], foreignUids };
  }
  const charset = charsetIn(parsed.dataset, charsetOf([]));
  // Only needles present somewhere in the header bytes can match an element: search those.
  const present = presentIn(input.needles, w.tail ? [w.meta, w.dataset, w.tail] : [w.meta, w.dataset], charset);
  const matches = present.size ? compileMatcher(present) : null;
  const found = new Set<string>();
  const labels = labelValues(input.rules.labels);
  const check = (el: Element, cs: Charset, top: boolean): void => {
    if (PIXEL_TAGS.has(el.tag) || !el.value || el.value.length === 0) {
      return;
    }
    if (matches && !(top && labels.get(el.tag) === el.value.toString('latin1').replace(/[\0 ]+$/, ''))) {
      // Code values come from controlled vocabularies ("TEST", "DCM", "99ACME"): a name that happens
      // to spell one is not a leak there.
      const where = { coded: CODED_TAGS.has(el.tag), freeText: FREE_TEXT_VRS.has(el.vr) || el.vr === 'UN' };
      const text = FREE_TEXT_VRS.has(el.vr) ? cs.decode(el.value) : el.value.toString('latin1');
      // Binary and UN values may hold text in the dataset's character set as well as in bytes.
      const other = !TEXT_VRS.has(el.vr) ? cs.decode(el.value) : null;
      if (matches(text, where) || (other !== null && other !== text && matches(other, where))) {
        found.add(formatTag(el.tag));
      }
    }
    // UIDs Table E.1-1 codes U are instance UIDs whatever their keyword suggests.
    if (el.vr === 'UI' && (!isDefinitionTag(el.tag) || isUidCoded(el.tag))) {
      for (const u of textValues(el)) {
        if (u && !isRegisteredUid(u) && !produced.has(u)) {
          foreignUids.add(u);
        }
      }
    }
  };
  const walk = (elements: readonly Element[], cs: Charset, top: boolean): void => {
    const here = charsetIn(elements, cs);
    for (const el of elements) {
      check(el, here, top);
      if (el.items) {
        for (const item of el.items) {
          walk(item.elements, here, false);
        }
      }
    }
  };
  walk(parsed.meta, charset, false);
  walk(parsed.dataset, charset, true);
  for (const tag of found) {
    problems.push(`an original identifying value is still present in ${tag}`);
  }
  problems.push(...structuralProblems(parsed.meta, parsed.dataset, input.rules));
  return { problems, foreignUids };
}
