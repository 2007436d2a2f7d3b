//! Applies the PS3.15 profile (Table E.1-1 + options) to a dataset, at every nesting depth.
// Pure: it edits the parsed tree in place and reports what it did; reading, writing and
// verification are the caller's. Private elements go unless Retain Safe Private allow-lists them.
import { charsetOf } from '../../dicom/specific-character-set.ts';
import type { Element } from '../../dicom/dataset.ts';
import { setEmpty, textValues } from '../../dicom/values.ts';
import { resolveAction } from './combined-codes.ts';
import { isSafePrivate } from './safe-private.ts';
import { actionLookup, type ActionCode, type ProfileOptions } from './table.ts';
import { addNeedles, cleanText, count, dummy, mapUids, shiftDates, type ActionContext } from './actions.ts';
import { compileScrub } from './needle-scrub.ts';
import { cleanInSequence, sequenceMode, type SequenceMode } from './sequences.ts';
import { resolveUn } from './un.ts';

/** Character data descriptors the Clean Descriptors option may keep once cleaned. */
const CLEANABLE_VRS = new Set(['LO', 'LT', 'SH', 'ST', 'UC', 'UT', 'PN']);

const SPECIFIC_CHARACTER_SET = 0x00080005;

function isPrivate(tag: number): boolean {
  return ((tag >>> 16) & 1) === 1;
}

/** (gggg,0010–00FF): the private creator that reserves block xx of group gggg. */
function isCreator(tag: number): boolean {
  const e = tag & 0xffff;
  return e >= 0x0010 && e <= 0x00ff;
}

/**
 * The repeating groups of the Overlay Plane module (6000–601E) and of the retired curves
 * (5000–501E) (PS3.5 §7.6): removed whole, never cleaned in place.
 */
export function isOverlayOrCurveGroup(tag: number): boolean {
  const group = tag >>> 16;
  const base = group & 0xff00;
  return (base === 0x6000 || base === 0x5000) && (group & 1) === 0 && (group & 0xff) <= 0x1e;
}

function creatorOf(elements: readonly Element[], tag: number): string | null {
  const creatorTag = ((tag & 0xffff0000) | ((tag & 0xff00) >>> 8)) >>> 0;
  const c = elements.find((e) => e.tag === creatorTag);
  return c?.value
    ? c.value
        .toString('latin1')
        .replace(/[\0 ]+$/, '')
        .trim()
    : null;
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
  return applyLevel({ ...run, action: actionLookup(run.options) }, elements, 0, 'normal');
}

/** An item that names its own Specific Character Set is decoded with it (PS3.5 §6.1.2.5.3). */
function levelRun(run: Run, elements: readonly Element[], depth: number): Run {
  if (depth === 0) {
    return run;
  }
  const cs = elements.find((e) => e.tag === SPECIFIC_CHARACTER_SET);
  return cs ? { ...run, ctx: { ...run.ctx, charset: charsetOf(textValues(cs)) } } : run;
}

function applyLevel(outer: Run, elements: Element[], depth: number, mode: SequenceMode): Element[] {
  const run = levelRun(outer, elements, depth);
  const kept: Element[] = [];
  for (const el of elements) {
    if (isPrivate(el.tag)) {
      if (keepPrivate(run, elements, el, depth, mode)) {
        kept.push(el);
      }
      continue;
    }
    // Group lengths are retired and would be wrong after any edit.
    if ((el.tag & 0xffff) === 0) {
      count(run.ctx.report, 'group-length-removed');
      continue;
    }
    // The whole Overlay Plane module goes with its Overlay Data (X): left behind, its Type 1
    // attributes would describe an overlay that is not there. Overlay and curve bitmaps may hold
    // burned-in text and we do not clean pixels, so they go under Clean Graphics (C) as well.
    if (depth === 0 && isOverlayOrCurveGroup(el.tag) && !run.ctx.skip.has('overlay-groups')) {
      addNeedles(run.ctx, el);
      count(run.ctx.report, 'overlay-or-curve-removed');
      continue;
    }
    if (applyPublic(run, el, depth, mode)) {
      kept.push(el);
    }
  }
  return dropUnusedCreators(kept);
}

function keepPrivate(run: Run, elements: readonly Element[], el: Element, depth: number, mode: SequenceMode): boolean {
  if (isCreator(el.tag)) {
    return true;
  } // decided by dropUnusedCreators
  const group = el.tag >>> 16;
  // The creator is looked up only when safe private elements may be kept (a Philips header has thousands).
  const creator =
    run.options.retainSafePrivate && group > 0x0008 && (el.tag & 0xffff) >= 0x1000 ? creatorOf(elements, el.tag) : null;
  const safe = creator !== null && isSafePrivate(creator, group, el.tag & 0xff, el.vr);
  if (!safe) {
    count(run.ctx.report, 'private-removed');
    return false;
  }
  count(run.ctx.report, 'private-kept');
  visitKept(run, el, depth, mode);
  return true;
}

/** Creators whose block lost every element are removed too; kept blocks keep theirs. */
function dropUnusedCreators(elements: Element[]): Element[] {
  return elements.filter((el) => {
    if (!isPrivate(el.tag) || !isCreator(el.tag)) {
      return true;
    }
    const block = (el.tag & 0xff) << 8;
    const group = el.tag >>> 16;
    return elements.some((o) => o.tag >>> 16 === group && (o.tag & 0xff00) === block && !isCreator(o.tag));
  });
}

/** The resolved action for a public element; null when the table does not list it. */
function resolve(run: Run, el: Element, depth: number): 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | null {
  return resolveAction(run.action(el.tag), el.tag, depth, run.sopClassUid);
}

/** Returns false when the element is removed. */
function applyPublic(run: Run, el: Element, depth: number, mode: SequenceMode): boolean {
  const { ctx } = run;
  const action = resolve(run, el, depth);
  // A public attribute relayed as UN (an implicit-to-explicit conversion by a node that did not
  // know it) is read with its dictionary VR, so its UIDs are mapped and its text cleaned.
  const vr = el.vr === 'UN' && !el.items && !ctx.skip.has('un-vr') ? resolveUn(el, action) : el.vr;
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
      if (el.items) {
        visitSequence(run, el, depth, sequenceMode(el.tag, 'D', ctx.skip));
      } else {
        dummy(ctx, el, vr);
      }
      return true;
    case 'U':
      if (el.items) {
        visitKept(run, el, depth, mode);
      } else if (el.vr === 'UI') {
        mapUids(ctx, el, !ctx.skip.has('table-uids'));
      } else {
        dummy(ctx, el, vr);
      }
      return true;
    case 'C':
      if (el.items) {
        visitSequence(run, el, depth, sequenceMode(el.tag, 'C', ctx.skip) ?? mode);
      } else if (el.vr === 'DA' || el.vr === 'DT') {
        shiftDates(ctx, el);
      } else if (el.vr === 'AS') {
        aggregateAge(el);
      } else if (CLEANABLE_VRS.has(el.vr)) {
        ctx.toClean.push({ el, charset: ctx.charset });
      }
      return true;
    case 'K':
      visitKept(run, el, depth, mode);
      return true;
    case null:
      return applyUnlisted(run, el, depth, mode);
  }
}

/**
 * Not in Table E.1-1: kept, but UIDs are mapped, dates shifted, free text cleaned of this
 * instance's identifying values (a dose comment naming the patient is a leak whatever the table
 * says), person names emptied (our deviation: a research archive has no use for them), and inside
 * a cleaned sequence every free-text value replaced (sequences.ts).
 */
function applyUnlisted(run: Run, el: Element, depth: number, mode: SequenceMode): boolean {
  const { ctx } = run;
  if (el.vr === 'PN' && ctx.unlistedNames === 'empty' && !ctx.skip.has('unlisted-names')) {
    if (el.value?.length) {
      addNeedles(ctx, el);
      setEmpty(el);
      count(ctx.report, 'unlisted-name-emptied');
    }
    return true;
  }
  if (mode !== 'normal' && cleanInSequence(ctx, el, mode)) {
    return true;
  }
  visitKept(run, el, depth, mode);
  if (!el.items && CLEANABLE_VRS.has(el.vr)) {
    ctx.toClean.push({ el, charset: ctx.charset });
  }
  return true;
}

/** A sequence the table replaces (D) or cleans (C): its items are kept and cleaned in `mode`. */
function visitSequence(run: Run, el: Element, depth: number, mode: SequenceMode | null): void {
  if (mode === null) {
    visitKept(run, el, depth, 'normal');
    return;
  }
  if (mode === 'structured') {
    count(run.ctx.report, 'clean-structured-content');
  }
  if (mode === 'graphics') {
    count(run.ctx.report, 'clean-graphics');
  }
  visitKept(run, el, depth, mode);
}

/** A kept element is still cleaned: sequences recursively, UIDs mapped, dates shifted. */
function visitKept(run: Run, el: Element, depth: number, mode: SequenceMode): void {
  if (el.items) {
    for (const item of el.items) {
      const before = item.elements.length;
      item.elements = applyLevel(run, item.elements, depth + 1, mode);
      if (item.elements.length !== before) {
        item.dirty = true;
      }
    }
    return;
  }
  if (el.vr === 'UI') {
    mapUids(run.ctx, el);
  } else if (el.vr === 'DA' || el.vr === 'DT') {
    shiftDates(run.ctx, el);
  }
  // A kept age still follows HIPAA Safe Harbor (Retain Patient Characteristics keeps it).
  else if (el.vr === 'AS') {
    aggregateAge(el);
  }
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
  if (ctx.toClean.length === 0 || ctx.skip.has('scrub-text')) {
    return;
  }
  const scrub = compileScrub(ctx.needles);
  for (const { el, charset } of ctx.toClean) {
    if (cleanText(el, scrub, charset)) {
      count(ctx.report, 'C-cleaned');
    }
  }
}
