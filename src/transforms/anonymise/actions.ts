//! What each PS3.15 action does to one element, by VR: dummy values (D), cleaning (C), UIDs (U).
import type { Charset } from '../../dicom/charset.ts';
import type { Element } from '../../dicom/dataset.ts';
import { BINARY_SIZES, setEmpty, setText, textValues } from '../../dicom/values.ts';
import { SCRUBBED } from './needle-scrub.ts';
import { collectNeedles } from './needles.ts';
import { shiftDate, shiftDateTime } from './dates.ts';
import { isDefinitionTag, type UidMapper } from './uids.ts';

/**
 * Steps of the transform a test can switch off, to prove that verification refuses what the step
 * would have fixed (fail closed). Never set in production: the config has no way to set them.
 */
export type TransformStep =
  'un-vr' | 'clean-sequences' | 'overlay-groups' | 'table-uids' | 'scrub-text' | 'unlisted-names' | 'declare';

/** The dummy text of D: says nothing about the patient and fits every text VR (SH holds 16). */
export const DUMMY_TEXT = 'ANONYMISED';

/** A free-text element waiting for the instance's identifying values to be known, with its character set. */
export interface ToClean {
  readonly el: Element;
  readonly charset: Charset;
}

/** What the profile walk needs to act on one instance. */
export interface ActionContext {
  readonly uids: UidMapper;
  /** Days every date of this subject moves back; 0 with Retain Longitudinal Full Dates. */
  readonly dateOffsetDays: number;
  /** Whether dates are shifted at all (false: kept as they are, full dates option). */
  readonly shiftDates: boolean;
  readonly retainUids: boolean;
  /** Original values that were removed or replaced: the verifier makes sure none is left. */
  readonly needles: Set<string>;
  /** Free-text elements to clean once every identifying value of the instance is known. */
  readonly toClean: ToClean[];
  readonly report: ActionReport;
  /** The character set of the element list being processed (an item may name its own). */
  readonly charset: Charset;
  /** PN attributes Table E.1-1 does not list: emptied (our default) or kept as the table allows. */
  readonly unlistedNames: 'empty' | 'keep';
  /** Steps switched off (tests only). */
  readonly skip: ReadonlySet<TransformStep>;
}

export interface ActionReport {
  /** Elements per applied action (X, Z, D, K, C, U, private-removed, private-kept …). */
  readonly counts: Record<string, number>;
  /** Dates that were not valid full dates and were removed or replaced (count only, no values). */
  invalidDates: number;
}

export function count(r: ActionReport, what: string): void {
  r.counts[what] = (r.counts[what] ?? 0) + 1;
}

/** The PHI search terms a removed or replaced value leaves behind (see needles.ts, verify.ts). */
export function addNeedles(ctx: ActionContext, el: Element): void {
  collectNeedles(el, ctx.needles, ctx.charset);
}

/** A date value shifted by the subject's offset; invalid dates give null (counted). */
function shiftedDates(ctx: ActionContext, el: Element): string[] | null {
  const out: string[] = [];
  for (const v of textValues(el)) {
    const s = el.vr === 'DA' ? shiftDate(v, ctx.dateOffsetDays) : shiftDateTime(v, ctx.dateOffsetDays);
    if (s === null) {
      ctx.report.invalidDates++;
      return null;
    }
    out.push(s);
  }
  return out;
}

/**
 * Replaces every UID value of a UI element (keeps registered UIDs). `coded` is true when Table
 * E.1-1 says U for the attribute: it is then replaced whatever its keyword looks like (Instance
 * Creator UID, Manufacturer's Device Class UID); other attributes keep definition UIDs (a class,
 * syntax, coding scheme) and, with Retain UIDs, every UID.
 */
export function mapUids(ctx: ActionContext, el: Element, coded = false): void {
  if (!el.value) {
    return;
  }
  if (!coded && (ctx.retainUids || isDefinitionTag(el.tag))) {
    return;
  }
  const before = textValues(el);
  const after = before.map((u) => ctx.uids.map(u));
  if (after.every((u, i) => u === before[i])) {
    return;
  }
  addNeedles(ctx, el);
  setText(el, after);
}

/** Shifts a DA/DT element; an invalid date is emptied and counted. */
export function shiftDates(ctx: ActionContext, el: Element): void {
  if (!ctx.shiftDates || !el.value || el.value.length === 0) {
    return;
  }
  const shifted = shiftedDates(ctx, el);
  addNeedles(ctx, el);
  if (shifted === null) {
    setEmpty(el);
  } else {
    setText(el, shifted);
    count(ctx.report, 'date-shifted');
  }
}

/**
 * D: a non-zero-length value that keeps the VR valid and says nothing about the patient. `vr` is
 * the element's VR, or its dictionary VR when it is stored as UN (the value keeps its encoding).
 */
export function dummy(ctx: ActionContext, el: Element, vr = el.vr): void {
  addNeedles(ctx, el);
  switch (vr) {
    case 'UI':
      if (el.value && el.value.length) {
        mapUids(ctx, el, true);
      } else {
        setText(el, [ctx.uids.map('0')]);
      }
      return;
    case 'DA':
    case 'DT': {
      const shifted =
        el.value && el.value.length
          ? shiftedDates({ ...ctx, dateOffsetDays: ctx.shiftDates ? ctx.dateOffsetDays : 0 }, el)
          : null;
      setText(el, shifted ?? [el.vr === 'DA' ? '19000101' : '19000101000000']);
      if (shifted) {
        count(ctx.report, 'date-shifted');
      }
      return;
    }
    case 'TM':
      setText(el, ['000000']);
      return;
    case 'AS':
      setText(el, ['000Y']);
      return;
    case 'DS':
    case 'IS':
      setText(el, ['0']);
      return;
    case 'CS':
      setText(el, [DUMMY_TEXT]);
      return;
    case 'PN':
      setText(el, [DUMMY_TEXT]);
      return;
    case 'SQ':
      return;
    default: {
      const size = BINARY_SIZES[vr];
      if (size !== undefined) {
        el.value = Buffer.alloc(size);
        el.dirty = true;
      } else if (vr === 'OB' || vr === 'OW' || vr === 'UN' || vr.startsWith('O')) {
        el.value = Buffer.alloc(2);
        el.dirty = true;
      } else {
        setText(el, [DUMMY_TEXT]);
      }
    }
  }
}

/**
 * Replaces every occurrence of an identifying value in a free-text element (Clean Descriptors),
 * on the decoded text. The result is written back in the element's character set; when the set
 * cannot carry it (ISO 2022, double-byte sets), the value becomes SCRUBBED (three ASCII capitals), which every set can.
 */
export function cleanText(el: Element, scrub: (value: string) => string, charset: Charset): boolean {
  if (!el.value) {
    return false;
  }
  const before = charset.decode(el.value).replace(/[\0 ]+$/, '');
  const after = scrub(before);
  if (after === before) {
    return false;
  }
  const bytes = charset.encode(after) ?? Buffer.from(SCRUBBED, 'latin1');
  el.value = bytes.length % 2 ? Buffer.concat([bytes, Buffer.from(' ')]) : bytes;
  el.dirty = true;
  return true;
}
