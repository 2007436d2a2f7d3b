//! De-identifies one instance: read, profile, optional DicomEdit script, labels, new meta, write.
import { readDicomFile, writeDicomFile, type BufferPool, type DicomFile, type WrittenFile } from '../../dicom/dataset-file.ts';
import { poolIo, type FileIo } from '../../dicom/io-thread.ts';
import { findElement, type Element } from '../../dicom/dataset.ts';
import { buildPart10Header } from '../../dicom/part10.ts';
import { textValues } from '../../dicom/values.ts';
import { count, type ActionContext, type ActionReport } from './actions.ts';
import { put, newElement, putLabels, putMethod, type Labels } from './insert.ts';
import { applyProfile, cleanDescriptors } from './profile.ts';
import { needle } from './needles.ts';
import type { ProfileOptions } from './table.ts';
import type { UidMapper } from './uids.ts';

export const T = {
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

export async function openInstance(input: { path: string; datasetOffset: number; transferSyntaxUid: string; size?: number | undefined }, pool?: BufferPool, io: FileIo = poolIo): Promise<{ file: DicomFile; identity: OriginalIdentity }> {
  const file = await readDicomFile(input.path, input, pool, io);
  const e = file.main.elements;
  const identity: OriginalIdentity = {
    patientId: first(e, T.PatientID), issuer: first(e, T.IssuerOfPatientID), patientName: first(e, T.PatientName),
    studyUid: first(e, T.StudyInstanceUID), seriesUid: first(e, T.SeriesInstanceUID),
    sopInstanceUid: first(e, T.SOPInstanceUID), sopClassUid: first(e, T.SOPClassUID), modality: first(e, T.Modality),
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
export async function anonymiseInstance(opened: { file: DicomFile; identity: OriginalIdentity }, plan: InstancePlan, output: string, scriptOnly = false, io: FileIo = poolIo): Promise<InstanceResult> {
  const { file, identity } = opened;
  const shift = plan.options.retainLongitudinal !== 'full';
  const ctx: ActionContext = {
    uids: plan.uids, dateOffsetDays: plan.dateOffsetDays, shiftDates: shift, retainUids: plan.options.retainUids,
    needles: new Set(), toClean: [], report: { counts: {}, invalidDates: 0 },
  };
  // Values the profile may keep in some option sets but that always identify the patient.
  if (identity.patientId.length >= 3) {ctx.needles.add(needle('text', identity.patientId));}
  const run = { options: plan.options, sopClassUid: identity.sopClassUid || null, ctx };
  let elements = file.main.elements;
  if (!scriptOnly) {
    elements = applyProfile(run, elements);
    if (file.tail) {file.tail.elements.splice(0, file.tail.elements.length, ...applyProfile(run, file.tail.elements));}
    cleanDescriptors(ctx);
  }
  putLabels(elements, plan.labels);
  if (plan.script) {elements = plan.script.run(elements, identity.sopInstanceUid);}
  const datesModified = shift && (ctx.report.counts['date-shifted'] ?? 0) > 0;
  putMethod(elements, { options: plan.options, profile: plan.profile, edition: plan.edition, keyId: plan.keyId, datesModified, script: plan.script?.name ?? null });
  file.main.elements.splice(0, file.main.elements.length, ...elements);
  const sopInstanceUid = first(elements, T.SOPInstanceUID);
  const sopClassUid = first(elements, T.SOPClassUID) || identity.sopClassUid;
  if (!sopInstanceUid) {
    put(elements, newElement(T.SOPInstanceUID, [plan.uids.map(identity.sopInstanceUid)]));
    count(ctx.report, 'sop-instance-uid-added');
  }
  const meta = buildPart10Header({ sopClassUid, sopInstanceUid: first(elements, T.SOPInstanceUID), transferSyntaxUid: file.transferSyntaxUid });
  const written = await writeDicomFile(file, meta, output, io);
  return {
    path: output, size: written.size, sopInstanceUid: first(elements, T.SOPInstanceUID), sopClassUid,
    seriesUid: first(elements, T.SeriesInstanceUID), studyUid: first(elements, T.StudyInstanceUID), needles: ctx.needles, report: ctx.report,
    written, transferSyntaxUid: file.transferSyntaxUid,
  };
}
