//! Structural rules a de-identified instance must meet, checked on the output as written.
// Each rule is what one transform step guarantees, checked independently of that step, so a step
// that missed something (or a DicomEdit script that undid it) holds the series instead of
// sending it: public attributes stored as UN are read with their VR; no Overlay Plane group is
// left; sequences Table E.1-1 replaces or cleans hold no original free text; the declared
// options (0012,0064) and (0028,0303) match what the instance holds; conditional pairs stay
// consistent; the File Meta names the dataset's instance.
import type { Charset } from '../../dicom/charset.ts';
import { charsetOf } from '../../dicom/specific-character-set.ts';
import type { Element } from '../../dicom/dataset.ts';
import { formatTag, vrOf } from '../../dicom/dictionary.ts';
import { TEXT_VRS, textValues } from '../../dicom/values.ts';
import { DUMMY_TEXT } from './actions.ts';
import { isOverlayOrCurveGroup } from './profile.ts';
import { mustBeDummy, sequenceMode, type SequenceMode } from './sequences.ts';
import { resolveAction } from './combined-codes.ts';
import { actionLookup, type ProfileOptions } from './table.ts';

export interface VerifyRules {
  readonly options: ProfileOptions;
  /**
   * The XNAT labels written into PatientName, PatientID and PatientComments: made from the
   * project and counters (or an imported table), never from the patient, so not searched there
   * (a project named like a patient's name would otherwise "leak" in every label).
   */
  readonly labels: { readonly project: string; readonly subject: string; readonly session: string };
  /** The offline command without --allow-burned-in: an instance that says its pixels carry text is refused. */
  readonly refuseBurnedIn: boolean;
}

const T = {
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  MediaStorageSOPClassUID: 0x00020002,
  MediaStorageSOPInstanceUID: 0x00020003,
  EthicsCommitteeName: 0x00120081,
  EthicsApprovalNumber: 0x00120082,
  MethodCodes: 0x00120064,
  CodeValue: 0x00080100,
  BurnedInAnnotation: 0x00280301,
  RecognizableVisualFeatures: 0x00280302,
  TemporalModified: 0x00280303,
  ContentSequence: 0x0040a730,
  GraphicAnnotationSequence: 0x00700001,
} as const;
const NO_SKIP = new Set<never>();
/** The dummy a date gets when its original was not a valid date (actions.ts): not a real date. */
const DUMMY_DATE = '19000101';

function first(elements: readonly Element[], tag: number): string | undefined {
  const el = elements.find((e) => e.tag === tag);
  return el ? (textValues(el)[0] ?? '') : undefined;
}

function isPrivate(tag: number): boolean {
  return ((tag >>> 16) & 1) === 1;
}

interface Walk {
  readonly action: ReturnType<typeof actionLookup>;
  readonly sopClassUid: string | null;
  readonly problems: Set<string>;
  datesPresent: boolean;
}

/** Walks the dataset once: UN text, values below cleaned sequences, dates present. */
function walk(
  w: Walk,
  elements: readonly Element[],
  depth: number,
  mode: SequenceMode,
  cs: Charset,
  parent: number | null,
): void {
  const csEl = elements.find((e) => e.tag === T.SpecificCharacterSet);
  const here = csEl ? charsetOf(textValues(csEl)) : cs;
  for (const el of elements) {
    if (isPrivate(el.tag)) {
      continue;
    }
    if (el.vr === 'UN' && !el.items && TEXT_VRS.has(vrOf(el.tag))) {
      w.problems.add(`public attribute ${formatTag(el.tag)} is still stored as UN`);
    }
    if ((el.vr === 'DA' || el.vr === 'DT') && textValues(el).some((v) => v !== '' && !v.startsWith(DUMMY_DATE))) {
      w.datesPresent = true;
    }
    const code = w.action(el.tag);
    if (code === null && parent !== null && mustBeDummy(el, mode) && el.value?.length) {
      const v = here
        .decode(el.value)
        .replace(/[\0 ]+$/, '')
        .trim();
      if (v !== '' && v !== DUMMY_TEXT) {
        w.problems.add(`${formatTag(el.tag)} below ${formatTag(parent)} keeps free text the profile replaces`);
      }
    }
    if (!el.items) {
      continue;
    }
    const resolved = resolveAction(code, el.tag, depth, w.sopClassUid);
    const below = resolved === 'D' || resolved === 'C' ? (sequenceMode(el.tag, resolved, NO_SKIP) ?? mode) : mode;
    const top = below !== mode && below !== 'normal' ? el.tag : parent;
    for (const item of el.items) {
      walk(w, item.elements, depth + 1, below, here, top);
    }
  }
}

/** Problems of one parsed output instance (tags and rule names only: no values). */
export function structuralProblems(
  meta: readonly Element[],
  dataset: readonly Element[],
  rules: VerifyRules,
): string[] {
  const sopClassUid = first(dataset, T.SOPClassUID) ?? null;
  const w: Walk = { action: actionLookup(rules.options), sopClassUid, problems: new Set(), datesPresent: false };
  walk(w, dataset, 0, 'normal', charsetOf([]), null);
  const problems = [...w.problems];
  const overlay = dataset.find((e) => isOverlayOrCurveGroup(e.tag));
  if (overlay) {
    problems.push(`an Overlay Plane or curve group is still present at ${formatTag(overlay.tag)}`);
  }
  problems.push(...declarationProblems(dataset, w.datesPresent), ...metaProblems(meta, dataset));
  if (rules.refuseBurnedIn) {
    for (const tag of [T.BurnedInAnnotation, T.RecognizableVisualFeatures]) {
      if (first(dataset, tag)?.toUpperCase() === 'YES') {
        problems.push(`${formatTag(tag)} says the pixels may identify the patient`);
      }
    }
  }
  return problems;
}

/** (0012,0064) and (0028,0303) must say what the instance holds; conditional pairs must hold. */
function declarationProblems(dataset: readonly Element[], datesPresent: boolean): string[] {
  const problems: string[] = [];
  const codes = new Set(
    (dataset.find((e) => e.tag === T.MethodCodes)?.items ?? []).map((i) => first(i.elements, T.CodeValue) ?? ''),
  );
  const temporal = first(dataset, T.TemporalModified);
  if (datesPresent && !codes.has('113106') && !codes.has('113107')) {
    problems.push('dates are present but neither option 113106 nor 113107 is declared');
  }
  if (temporal === 'MODIFIED' && !codes.has('113107')) {
    problems.push('(0028,0303) says MODIFIED but option 113107 is not declared');
  }
  if (temporal === 'UNMODIFIED' && !codes.has('113106')) {
    problems.push('(0028,0303) says UNMODIFIED but option 113106 is not declared');
  }
  if (datesPresent && temporal === 'REMOVED') {
    problems.push('(0028,0303) says REMOVED but dates are present');
  }
  const kept = (tag: number): boolean => (dataset.find((e) => e.tag === tag)?.items?.length ?? 0) > 0;
  if (kept(T.ContentSequence) && !codes.has('113104')) {
    problems.push('(0040,A730) is kept but option 113104 is not declared');
  }
  if (kept(T.GraphicAnnotationSequence) && !codes.has('113103')) {
    problems.push('(0070,0001) is kept but option 113103 is not declared');
  }
  if (first(dataset, T.EthicsCommitteeName) !== undefined && first(dataset, T.EthicsApprovalNumber) === undefined) {
    problems.push('(0012,0081) is present without (0012,0082), which its Type 1C condition requires');
  }
  return problems;
}

function metaProblems(meta: readonly Element[], dataset: readonly Element[]): string[] {
  const problems: string[] = [];
  const sop = first(dataset, T.SOPInstanceUID);
  if (!sop) {
    problems.push('the dataset has no SOP Instance UID');
  } else if (first(meta, T.MediaStorageSOPInstanceUID) !== sop) {
    problems.push("(0002,0003) differs from the dataset's SOP Instance UID");
  }
  const cls = first(dataset, T.SOPClassUID);
  if (cls && first(meta, T.MediaStorageSOPClassUID) !== cls) {
    problems.push("(0002,0002) differs from the dataset's SOP Class UID");
  }
  return problems;
}
