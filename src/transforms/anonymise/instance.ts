//! De-identifies one instance: read, profile, optional DicomEdit script, labels, new meta, write.
import {
  readDicomFile,
  writeDicomFile,
  type BufferPool,
  type DicomFile,
  type WrittenFile,
} from '../../dicom/dataset-file.ts';
import { poolIo, type FileIo } from '../../dicom/io-thread.ts';
import { findElement, type Element } from '../../dicom/dataset.ts';
import { buildPart10Header } from '../../dicom/part10.ts';
import { textValues } from '../../dicom/values.ts';
import type { Charset } from '../../dicom/charset.ts';
import { charsetOf } from '../../dicom/specific-character-set.ts';
import { count, type ActionContext, type ActionReport, type TransformStep } from './actions.ts';
import { appliedIn, put, newElement, putLabels, putMethod, type Labels } from './insert.ts';
import { applyProfile, cleanDescriptors } from './profile.ts';
import { collectNeedles, needle } from './needles.ts';
import type { ProfileOptions } from './table.ts';
import type { UidMapper } from './uids.ts';

export const T = {
  SpecificCharacterSet: 0x00080005,
  SOPClassUID: 0x00080016,
  SOPInstanceUID: 0x00080018,
  Modality: 0x00080060,
  PatientName: 0x00100010,
  PatientID: 0x00100020,
  IssuerOfPatientID: 0x00100021,
  PatientComments: 0x00104000,
  StudyInstanceUID: 0x0020000d,
  SeriesInstanceUID: 0x0020000e,
} as const;

/** The identifying keys of an instance, read before anything is changed. */
export interface OriginalIdentity {
  readonly patientId: string;
  readonly issuer: string;
  readonly patientName: string;
  readonly studyUid: string;
  readonly seriesUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly modality: string;
}

function first(elements: readonly Element[], tag: number): string {
  const el = findElement(elements, tag);
  return el ? (textValues(el)[0] ?? '') : '';
}

export async function openInstance(
  input: {
    path: string;
    datasetOffset: number;
    transferSyntaxUid: string;
    size?: number | undefined;
    sopInstanceUid?: string | undefined;
    sopClassUid?: string | undefined;
  },
  pool?: BufferPool,
  io: FileIo = poolIo,
): Promise<{ file: DicomFile; identity: OriginalIdentity }> {
  const file = await readDicomFile(input.path, input, pool, io);
  const e = file.main.elements;
  const identity: OriginalIdentity = {
    patientId: first(e, T.PatientID),
    issuer: first(e, T.IssuerOfPatientID),
    patientName: first(e, T.PatientName),
    studyUid: first(e, T.StudyInstanceUID),
    seriesUid: first(e, T.SeriesInstanceUID),
    // A dataset without its SOP UIDs (some writers leave them to the File Meta) takes the meta's.
    sopInstanceUid: first(e, T.SOPInstanceUID) || (input.sopInstanceUid ?? ''),
    sopClassUid: first(e, T.SOPClassUID) || (input.sopClassUid ?? ''),
    modality: first(e, T.Modality),
  };
  return { file, identity };
}

/** What the caller decided for this project: the profile, the labels, and the keyed functions. */
export interface InstancePlan {
  readonly profile: string;
  readonly edition: string;
  readonly options: ProfileOptions;
  readonly labels: Labels;
  readonly keyId: string;
  readonly uids: UidMapper;
  readonly dateOffsetDays: number;
  /** A DicomEdit 6 script run after the profile (name for the method record, and the runner). */
  readonly script: { readonly name: string; run(elements: Element[], seed: string): Element[] } | null;
  /** PN attributes Table E.1-1 does not list: emptied (default) or kept as the table allows. */
  readonly unlistedNames: 'empty' | 'keep';
  /** Transform steps switched off: tests only, to show that verification refuses what they fix. */
  readonly skip?: ReadonlySet<TransformStep> | undefined;
}

const NO_SKIP: ReadonlySet<TransformStep> = new Set();

/**
 * Every person name of the input, at every depth, as needles: with unlisted names emptied no
 * original name may be left anywhere. Taken from the input before the profile runs, so
 * verification does not depend on the step that empties them.
 */
function personNameNeedles(elements: readonly Element[], charset: Charset, into: Set<string>): void {
  const cs = elements.find((e) => e.tag === T.SpecificCharacterSet);
  const here = cs ? charsetOf(textValues(cs)) : charset;
  for (const el of elements) {
    if (el.vr === 'PN') {
      collectNeedles(el, into, here);
    }
    if (el.items) {
      for (const item of el.items) {
        personNameNeedles(item.elements, here, into);
      }
    }
  }
}

/** Type 1C attributes whose condition is another attribute's presence: removed when the profile removed that one. */
const CONDITIONAL: readonly { readonly tag: number; readonly requires: number }[] = [
  // Clinical Trial Protocol Ethics Committee Name: required if the Approval Number is present (PS3.3 C.7.1.3).
  { tag: 0x00120081, requires: 0x00120082 },
];

function keepConditionsTrue(elements: Element[], report: ActionReport): void {
  for (const c of CONDITIONAL) {
    const i = elements.findIndex((e) => e.tag === c.tag);
    if (i >= 0 && !elements.some((e) => e.tag === c.requires)) {
      elements.splice(i, 1);
      count(report, 'conditional-removed');
    }
  }
}

export interface InstanceResult {
  readonly path: string;
  readonly size: number;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly seriesUid: string;
  readonly studyUid: string;
  readonly needles: ReadonlySet<string>;
  readonly report: ActionReport;
  /** The header bytes as written, for verification. */
  readonly written: WrittenFile;
  readonly transferSyntaxUid: string;
}

/** Applies the plan to an opened instance and writes it to `output`. */
/** `scriptOnly`: the DicomEdit script replaces the profile (labels, method record and verification still apply). */
export async function anonymiseInstance(
  opened: { file: DicomFile; identity: OriginalIdentity },
  plan: InstancePlan,
  output: string,
  scriptOnly = false,
  io: FileIo = poolIo,
): Promise<InstanceResult> {
  const { file, identity } = opened;
  const shift = plan.options.retainLongitudinal !== 'full';
  const skip = plan.skip ?? NO_SKIP;
  const charsetEl = findElement(file.main.elements, T.SpecificCharacterSet);
  const charset = charsetOf(charsetEl ? textValues(charsetEl) : []);
  const ctx: ActionContext = {
    uids: plan.uids,
    dateOffsetDays: plan.dateOffsetDays,
    shiftDates: shift,
    retainUids: plan.options.retainUids,
    needles: new Set(),
    toClean: [],
    report: { counts: {}, invalidDates: 0 },
    charset,
    unlistedNames: plan.unlistedNames,
    skip,
  };
  // Values the profile may keep in some option sets but that always identify the patient.
  if (identity.patientId.length >= 3) {
    ctx.needles.add(needle('text', identity.patientId));
  }
  if (plan.unlistedNames === 'empty') {
    personNameNeedles(file.main.elements, charset, ctx.needles);
    if (file.tail) {
      personNameNeedles(file.tail.elements, charset, ctx.needles);
    }
  }
  const run = { options: plan.options, sopClassUid: identity.sopClassUid || null, ctx };
  let elements = file.main.elements;
  if (!scriptOnly) {
    elements = applyProfile(run, elements);
    if (file.tail) {
      file.tail.elements.splice(0, file.tail.elements.length, ...applyProfile(run, file.tail.elements));
    }
    cleanDescriptors(ctx);
  }
  putLabels(elements, plan.labels);
  if (plan.script) {
    elements = plan.script.run(elements, identity.sopInstanceUid);
  }
  if (!skip.has('declare')) {
    keepConditionsTrue(elements, ctx.report);
  }
  const datesModified = shift && (ctx.report.counts['date-shifted'] ?? 0) > 0;
  const applied = skip.has('declare')
    ? undefined
    : appliedIn(file.tail ? [...elements, ...file.tail.elements] : elements);
  putMethod(elements, {
    options: plan.options,
    profile: plan.profile,
    edition: plan.edition,
    keyId: plan.keyId,
    datesModified,
    script: plan.script?.name ?? null,
    ...(applied ? { applied } : {}),
  });
  const sopInstanceUid = first(elements, T.SOPInstanceUID);
  const sopClassUid = first(elements, T.SOPClassUID) || identity.sopClassUid;
  // The meta's UID (mapped) when the dataset has none: the output names its instance in both.
  if (!sopInstanceUid && identity.sopInstanceUid) {
    put(elements, newElement(T.SOPInstanceUID, [plan.uids.map(identity.sopInstanceUid)]));
    count(ctx.report, 'sop-instance-uid-added');
  }
  file.main.elements.splice(0, file.main.elements.length, ...elements);
  const meta = buildPart10Header({
    sopClassUid,
    sopInstanceUid: first(elements, T.SOPInstanceUID),
    transferSyntaxUid: file.transferSyntaxUid,
  });
  const written = await writeDicomFile(file, meta, output, io);
  return {
    path: output,
    size: written.size,
    sopInstanceUid: first(elements, T.SOPInstanceUID),
    sopClassUid,
    seriesUid: first(elements, T.SeriesInstanceUID),
    studyUid: first(elements, T.StudyInstanceUID),
    needles: ctx.needles,
    report: ctx.report,
    written,
    transferSyntaxUid: file.transferSyntaxUid,
  };
}
