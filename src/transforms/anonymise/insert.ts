//! Elements the anonymiser adds: the PS3.15 E.1.1 record of what was done, and the XNAT labels.
import type { Element, Item } from '../../dicom/dataset.ts';
import { vrOf } from '../../dicom/dictionary.ts';
import { formatPatientComments } from '../../dicom/labels.ts';
import { encodeText, textValues } from '../../dicom/values.ts';
import type { ProfileOptions } from './table.ts';

export const TOOL_NAME = 'xnat-gateway';
export const TOOL_VERSION = '0.1.0';

/** CID 7050 "De-identification Method": code value → code meaning. */
const CID_7050: Readonly<Record<string, string>> = {
  '113100': 'Basic Application Confidentiality Profile',
  '113103': 'Clean Graphics Option',
  '113104': 'Clean Structured Content Option',
  '113105': 'Clean Descriptors Option',
  '113106': 'Retain Longitudinal Temporal Information Full Dates Option',
  '113107': 'Retain Longitudinal Temporal Information Modified Dates Option',
  '113108': 'Retain Patient Characteristics Option',
  '113109': 'Retain Device Identity Option',
  '113110': 'Retain UIDs Option',
  '113111': 'Retain Safe Private Option',
  '113112': 'Retain Institution Identity Option',
};

/** What an instance holds after de-identification that an option must declare. */
export interface Applied {
  /** Dates other than the 19000101 dummy remain (shifted, or kept with full dates). */
  readonly dates: boolean;
  /** Content Sequence kept with cleaned content (Clean Structured Content). */
  readonly structuredContent: boolean;
  /** Graphic Annotation Sequence kept with cleaned content (Clean Graphics). */
  readonly graphics: boolean;
}

const NOTHING_APPLIED: Applied = { dates: false, structuredContent: false, graphics: false };

/**
 * The CID 7050 codes of a set of options (Basic always), plus the options the instance shows were
 * applied whatever was configured: shifted dates are Retain Longitudinal Temporal Information with
 * Modified Dates, a kept Content or Graphic Annotation Sequence is Clean Structured Content or
 * Clean Graphics (PS3.15 E.1.1: declare every option applied).
 */
export function methodCodes(o: ProfileOptions, applied: Applied = NOTHING_APPLIED): string[] {
  const codes = ['113100'];
  if (o.cleanGraphics || applied.graphics) {
    codes.push('113103');
  }
  if (o.cleanStructuredContent || applied.structuredContent) {
    codes.push('113104');
  }
  if (o.cleanDescriptors) {
    codes.push('113105');
  }
  if (o.retainLongitudinal === 'full') {
    codes.push('113106');
  }
  if (o.retainLongitudinal === 'modified' || (o.retainLongitudinal === 'off' && applied.dates)) {
    codes.push('113107');
  }
  if (o.retainPatientCharacteristics) {
    codes.push('113108');
  }
  if (o.retainDeviceIdentity) {
    codes.push('113109');
  }
  if (o.retainUids) {
    codes.push('113110');
  }
  if (o.retainSafePrivate) {
    codes.push('113111');
  }
  if (o.retainInstitutionIdentity) {
    codes.push('113112');
  }
  return codes;
}

export function newElement(tag: number, values: readonly string[], vr = vrOf(tag)): Element {
  return { tag, vr, start: -1, end: -1, value: encodeText(vr, values), items: null, encapsulated: false, dirty: true };
}

function newSequence(tag: number, items: Element[][]): Element {
  const its: Item[] = items.map((elements) => ({ start: -1, end: -1, elements, dirty: true }));
  return { tag, vr: 'SQ', start: -1, end: -1, value: null, items: its, encapsulated: false, dirty: true };
}

/** Inserts or replaces `el` keeping the list in tag order. */
export function put(elements: Element[], el: Element): void {
  const i = elements.findIndex((e) => e.tag >= el.tag);
  if (i < 0) {
    elements.push(el);
  } else if (elements[i]?.tag === el.tag) {
    elements[i] = el;
  } else {
    elements.splice(i, 0, el);
  }
}

export interface Labels {
  readonly project: string;
  readonly subject: string;
  readonly session: string;
}

/** PatientName = subject, PatientID = session, PatientComments = XNAT's routing line. */
export function putLabels(elements: Element[], l: Labels): void {
  put(elements, newElement(0x00100010, [l.subject]));
  put(elements, newElement(0x00100020, [l.session]));
  put(elements, newElement(0x00104000, [formatPatientComments(l.project, l.subject, l.session)]));
}

/** Dates left at any depth other than the 19000101 dummy of an invalid one. */
function holdsDates(elements: readonly Element[]): boolean {
  return elements.some((el) =>
    el.items
      ? el.items.some((i) => holdsDates(i.elements))
      : (el.vr === 'DA' || el.vr === 'DT') &&
        ((el.tag >>> 16) & 1) === 0 &&
        textValues(el).some((v) => v !== '' && !v.startsWith('19000101')),
  );
}

/** What `elements` (an instance after the profile and the script) holds that needs declaring. */
export function appliedIn(elements: readonly Element[]): Applied {
  const kept = (tag: number): boolean => (elements.find((e) => e.tag === tag)?.items?.length ?? 0) > 0;
  return { dates: holdsDates(elements), structuredContent: kept(0x0040a730), graphics: kept(0x00700001) };
}

/**
 * PatientIdentityRemoved, DeidentificationMethod (tool, version, edition, profile, options, key
 * id), its code sequence, and LongitudinalTemporalInformationModified. `applied` is what the
 * instance holds (appliedIn); `datesModified` is only used when `applied` is not given (a test
 * that switches the declaration of applied options off).
 */
export function putMethod(
  elements: Element[],
  m: {
    options: ProfileOptions;
    profile: string;
    edition: string;
    keyId: string;
    datesModified: boolean;
    script: string | null;
    applied?: Applied;
  },
): void {
  put(elements, newElement(0x00120062, ['YES']));
  const method = [`${TOOL_NAME} ${TOOL_VERSION}`, `DICOM PS3.15 ${m.edition} ${m.profile}`, `key ${m.keyId}`];
  if (m.script) {
    method.push(`DicomEdit 6 script ${m.script}`.slice(0, 64));
  }
  put(elements, newElement(0x00120063, method));
  put(
    elements,
    newSequence(
      0x00120064,
      methodCodes(m.options, m.applied).map((code) => [
        newElement(0x00080100, [code]),
        newElement(0x00080102, ['DCM']),
        newElement(0x00080104, [CID_7050[code] ?? '']),
      ]),
    ),
  );
  const modified = m.applied ? m.applied.dates : m.datesModified;
  const temporal = m.options.retainLongitudinal === 'full' ? 'UNMODIFIED' : modified ? 'MODIFIED' : 'REMOVED';
  put(elements, newElement(0x00280303, [temporal]));
}
