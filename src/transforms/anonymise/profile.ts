//! Applies the PS3.15 profile (Table E.1-1 + options) to a dataset, at every nesting depth.
// Pure: it edits the parsed tree in place and reports what it did; reading, writing and
// verification are the caller's. Private elements go unless Retain Safe Private allow-lists them.
import type { Element } from '../../dicom/dataset.ts';
import { setEmpty } from '../../dicom/values.ts';
import { actionLookup, attributeType, isSafePrivate, resolveCombined, type ActionCode, type ProfileOptions } from './table.ts';
import { addNeedles, cleanText, count, dummy, mapUids, shiftDates, type ActionContext } from './actions.ts';
import { compileScrub } from './needles.ts';

/** Character data descriptors the Clean Descriptors option may keep once cleaned. */
const CLEANABLE_VRS = new Set(['LO', 'LT', 'SH', 'ST', 'UC', 'UT', 'PN']);

const COMBINED = new Set<ActionCode>(['Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*']);

function isPrivate(tag: number): boolean {
  return ((tag >>> 16) & 1) === 1;
}

/** (gggg,0010–00FF): the private creator that reserves block xx of group gggg. */
function isCreator(tag: number): boolean {
  const e = tag & 0xffff;
  return e >= 0x0010 && e <= 0x00ff;
}

function creatorOf(elements: readonly Element[], tag: number): string | null {
  const creatorTag = ((tag & 0xffff0000) | ((tag & 0xff00) >>> 8)) >>> 0;
  const c = elements.find((e) => e.tag === creatorTag);
  return c?.value ? c.value.toString('latin1').replace(/[\0 ]+$/, '').trim() : null;
}

export interface ProfileRun {
  readonly options: ProfileOptions;
  readonly sopClassUid: string | null;
  readonly ctx: ActionContext;
}

/** A run with its option set's memoised Table E.1-1 lookup. */
interface Run extends ProfileRun {
  readonly action: (tag: number) => ActionCode | null;
}

/** Applies the profile to `elements` (a dataset or an item), recursing into every sequence. */
export function applyProfile(run: ProfileRun, elements: Element[]): Element[] {
  return applyLevel({ ...run, action: actionLookup(run.options) }, elements, 0);
}

function applyLevel(run: Run, elements: Element[], depth: number): Element[] {
  const kept: Element[] = [];
  for (const el of elements) {
    if (isPrivate(el.tag)) {
      if (keepPrivate(run, elements, el, depth)) {kept.push(el);}
      continue;
    }
    // Group lengths are retired and would be wrong after any edit.
    if ((el.tag & 0xffff) === 0) {
      count(run.ctx.report, 'group-length-removed');
      continue;
    }
    if (applyPublic(run, el, depth)) {kept.push(el);}
  }
  return dropUnusedCreators(kept);
}

function keepPrivate(run: Run, elements: readonly Element[], el: Element, depth: number): boolean {
  if (isCreator(el.tag)) {return true;} // decided by dropUnusedCreators
  const group = el.tag >>> 16;
  // The creator is looked up only when safe private elements may be kept (a Philips header has thousands).
  const creator = run.options.retainSafePrivate && group > 0x0008 && (el.tag & 0xffff) >= 0x1000 ? creatorOf(elements, el.tag) : null;
  const safe = creator !== null && isSafePrivate(creator, group, el.tag & 0xff, el.vr);
  if (!safe) {
    count(run.ctx.report, 'private-removed');
    return false;
  }
  count(run.ctx.report, 'private-kept');
  visitKept(run, el, depth);
  return true;
}

/** Creators whose block lost every element are removed too; kept blocks keep theirs. */
function dropUnusedCreators(elements: Element[]): Element[] {
  return elements.filter((el) => {
    if (!isPrivate(el.tag) || !isCreator(el.tag)) {return true;}
    const block = (el.tag & 0xff) << 8;
    const group = el.tag >>> 16;
    return elements.some((o) => o.tag >>> 16 === group && (o.tag & 0xff00) === block && !isCreator(o.tag));
  });
}

/** The resolved action for a public element; null when the table does not list it. */
function resolve(run: Run, el: Element, depth: number): 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | null {
  const code = run.action(el.tag);
  if (code === null) {return null;}
  if (!COMBINED.has(code)) {return code as 'D' | 'Z' | 'X' | 'K' | 'C' | 'U';}
  // Attribute types are known for the top level of the IOD; inside sequences the conservative branch applies.
  return resolveCombined(code as Exclude<ActionCode, 'K' | 'C'>, depth === 0 ? attributeType(run.sopClassUid, el.tag) : null);
}

/** Returns false when the element is removed. */
function applyPublic(run: Run, el: Element, depth: number): boolean {
  const { ctx } = run;
  const action = resolve(run, el, depth);
  count(ctx.report, action ?? 'unlisted');
  switch (action) {
    case 'X':
      addNeedles(ctx, el);
      return false;
    case 'Z':
      addNeedles(ctx, el);
      setEmpty(el);
      return true;
    case 'D':
      if (el.items) {visitKept(run, el, depth);}
      else {dummy(ctx, el);}
      return true;
    case 'U':
      if (el.items) {visitKept(run, el, depth);}
      else if (el.vr === 'UI') {mapUids(ctx, el);}
      else {dummy(ctx, el);}
      return true;
    case 'C':
      if (el.items) {visitKept(run, el, depth);}
      else if (el.vr === 'DA' || el.vr === 'DT') {shiftDates(ctx, el);}
      else if (el.vr === 'AS') {aggregateAge(el);}
      else if (CLEANABLE_VRS.has(el.vr)) {ctx.toClean.push(el);}
      return true;
    case 'K':
      visitKept(run, el, depth);
      return true;
    case null:
      // Not in Table E.1-1: kept, but free text is still cleaned of this instance's identifying
      // values (a dose comment or a label naming the patient is a leak whatever the table says).
      visitKept(run, el, depth);
      if (!el.items && CLEANABLE_VRS.has(el.vr)) {ctx.toClean.push(el);}
      return true;
  }
}

/** A kept element is still cleaned: sequences recursively, UIDs mapped, dates shifted. */
function visitKept(run: Run, el: Element, depth: number): void {
  if (el.items) {
    for (const item of el.items) {
      const before = item.elements.length;
      item.elements = applyLevel(run, item.elements, depth + 1);
      if (item.elements.length !== before) {item.dirty = true;}
    }
    return;
  }
  if (el.vr === 'UI') {mapUids(run.ctx, el);}
  else if (el.vr === 'DA' || el.vr === 'DT') {shiftDates(run.ctx, el);}
  // A kept age still follows HIPAA Safe Harbor (Retain Patient Characteristics keeps it).
  else if (el.vr === 'AS') {aggregateAge(el);}
}

/** HIPAA Safe Harbor: ages over 89 are reported as 90 or older ("090Y"). */
function aggregateAge(el: Element): void {
  const v = el.value?.toString('latin1').trim() ?? '';
  const m = /^(\d{3})Y$/.exec(v);
  if (m && Number(m[1]) > 89) {
    el.value = Buffer.from('090Y', 'latin1');
    el.dirty = true;
  }
}

/** Clean Descriptors, second pass: strip every identifying value of the instance from kept free text. */
export function cleanDescriptors(ctx: ActionContext): void {
  if (ctx.toClean.length === 0) {return;}
  const scrub = compileScrub(ctx.needles);
  for (const el of ctx.toClean) {
    if (cleanText(el, scrub)) {count(ctx.report, 'C-cleaned');}
  }
}
