//! Sequences Table E.1-1 replaces (D) or cleans (C): their structure is kept, their values cleaned.
// PS3.15 allows a D-coded sequence to be replaced by dummy items, or, under Clean Structured
// Content (113104) and Clean Graphics (113103), kept with its content cleaned. We keep the
// structure in both cases, so an SR or a presentation state stays valid and readable:
// - structured / graphics (Content, Acquisition Context, Specimen Preparation, Graphic Annotation
//   Sequence): codes (concept names, units, coding schemes) are kept; every other free-text
//   value and every name is replaced by a dummy; UIDs are mapped and dates shifted as everywhere.
//   The instance then declares the option (insert.ts), whatever the configured options.
// - dummy (every other D-coded sequence: Person Identification Code, Verifying Observer, Flow
//   Identifier …): code values and meanings are replaced too, since there they name a person.
import type { Element } from '../../dicom/dataset.ts';
import { setEmpty, setText } from '../../dicom/values.ts';
import { addNeedles, count, DUMMY_TEXT, type ActionContext, type TransformStep } from './actions.ts';

/** How values below a sequence are treated: as the table says (normal), or cleaned as above. */
export type SequenceMode = 'normal' | 'structured' | 'graphics' | 'dummy';

/** Sequences kept with cleaned content under an option, and the option that says so. */
const CLEANED: ReadonlyMap<number, 'structured' | 'graphics'> = new Map([
  [0x0040a730, 'structured'], // Content Sequence
  [0x00400555, 'structured'], // Acquisition Context Sequence
  [0x00400610, 'structured'], // Specimen Preparation Sequence
  [0x00700001, 'graphics'], // Graphic Annotation Sequence
]);

/** Free text that may carry a name, a number or an address. */
const FREE_TEXT = new Set(['LO', 'LT', 'SH', 'ST', 'UT', 'UC']);
/** Code Value, Coding Scheme Designator … Context Identifier, Long and URN Code Value: controlled vocabularies. */
export function isCodeAttribute(tag: number): boolean {
  return tag >>> 16 === 0x0008 && (tag & 0xffff) >= 0x0100 && (tag & 0xffff) <= 0x0122;
}
/** In dummy mode these are replaced as well: there a code is often a person's or an organisation's identifier. */
const IDENTIFYING_CODES = new Set([0x00080100, 0x00080104, 0x00080119, 0x00080120]);

/**
 * The mode below a sequence the table codes D or C, or null when it is treated as any kept
 * sequence (the table's codes apply to what is inside).
 */
export function sequenceMode(tag: number, action: 'D' | 'C', skip: ReadonlySet<TransformStep>): SequenceMode | null {
  if (skip.has('clean-sequences')) {
    return null;
  }
  return CLEANED.get(tag) ?? (action === 'D' ? 'dummy' : null);
}

/** Whether a value below a sequence in `mode` must be a dummy (or empty): the verifier's rule too. */
export function mustBeDummy(el: Element, mode: SequenceMode): boolean {
  if (mode === 'normal' || el.items) {
    return false;
  }
  if (isCodeAttribute(el.tag)) {
    return mode === 'dummy' && IDENTIFYING_CODES.has(el.tag);
  }
  return FREE_TEXT.has(el.vr) || el.vr === 'PN' || el.vr === 'UR';
}

/**
 * Cleans an element the table does not list, below a sequence in `mode`. Returns false when the
 * element is not free text (it is then kept: UIDs mapped, dates shifted by the caller).
 */
export function cleanInSequence(ctx: ActionContext, el: Element, mode: SequenceMode): boolean {
  if (!mustBeDummy(el, mode)) {
    return false;
  }
  if (el.value?.length) {
    addNeedles(ctx, el);
    // A URL cannot be a dummy word; it is emptied.
    if (el.vr === 'UR') {
      setEmpty(el);
    } else {
      setText(el, [DUMMY_TEXT]);
    }
    count(ctx.report, 'sequence-text-replaced');
  }
  return true;
}
