//! What each PS3.15 action does to one element, by VR: dummy values (D), cleaning (C), UIDs (U).
import type { Element } from '../../dicom/dataset.ts';
import { BINARY_SIZES, setEmpty, setText, textValues } from '../../dicom/values.ts';
import { collectNeedles } from './needles.ts';
import { shiftDate, shiftDateTime } from './dates.ts';
import { isDefinitionTag, type UidMapper } from './uids.ts';

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
  readonly toClean: Element[];
  readonly report: ActionReport;
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
  collectNeedles(el, ctx.needles);
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

/** Replaces every UID value of a UI element (keeps registered and definition UIDs). */
export function mapUids(ctx: ActionContext, el: Element): void {
  if (ctx.retainUids || isDefinitionTag(el.tag) || !el.value) {return;}
  const before = textValues(el);
  const after = before.map((u) => ctx.uids.map(u));
  if (after.every((u, i) => u === before[i])) {return;}
  addNeedles(ctx, el);
  setText(el, after);
}

/** Shifts a DA/DT element; an invalid date is emptied and counted. */
export function shiftDates(ctx: ActionContext, el: Element): void {
  if (!ctx.shiftDates || !el.value || el.value.length === 0) {return;}
  const shifted = shiftedDates(ctx, el);
  addNeedles(ctx, el);
  if (shifted === null) {setEmpty(el);}
  else {
    setText(el, shifted);
    count(ctx.report, 'date-shifted');
  }
}

/** D: a non-zero-length value that keeps the VR valid and says nothing about the patient. */
export function dummy(ctx: ActionContext, el: Element): void {
  addNeedles(ctx, el);
  switch (el.vr) {
    case 'UI':
      if (el.value && el.value.length) {mapUids(ctx, el);}
      else {setText(el, [ctx.uids.map('0')]);}
      return;
    case 'DA':
    case 'DT': {
      const shifted = el.value && el.value.length ? shiftedDates({ ...ctx, dateOffsetDays: ctx.shiftDates ? ctx.dateOffsetDays : 0 }, el) : null;
      setText(el, shifted ?? [el.vr === 'DA' ? '19000101' : '19000101000000']);
      if (shifted) {count(ctx.report, 'date-shifted');}
      return;
    }
    case 'TM': setText(el, ['000000']); return;
    case 'AS': setText(el, ['000Y']); return;
    case 'DS': case 'IS': setText(el, ['0']); return;
    case 'CS': setText(el, ['ANONYMISED']); return;
    case 'PN': setText(el, ['ANONYMISED']); return;
    case 'SQ': return;
    default: {
      const size = BINARY_SIZES[el.vr];
      if (size !== undefined) {
        el.value = Buffer.alloc(size);
        el.dirty = true;
      } else if (el.vr === 'OB' || el.vr === 'OW' || el.vr === 'UN' || el.vr.startsWith('O')) {
        el.value = Buffer.alloc(2);
        el.dirty = true;
      } else {
        setText(el, ['ANONYMISED']);
      }
    }
  }
}

/** Replaces every occurrence of an identifying value in a free-text element (Clean Descriptors). */
export function cleanText(el: Element, scrub: (value: string) => string): boolean {
  if (!el.value) {return false;}
  const before = el.value.toString('latin1').replace(/[\0 ]+$/, '');
  const after = scrub(before);
  if (after === before) {return false;}
  el.value = Buffer.from(after.length % 2 ? `${after} ` : after, 'latin1');
  el.dirty = true;
  return true;
}
