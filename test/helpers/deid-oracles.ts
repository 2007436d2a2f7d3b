//! Runners for the pydicom oracles (rt_linked_set.py, dicom_refs.py, dicom_strings.py): checks of
//! de-identified output that are deliberately independent of our TypeScript DICOM code.
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The Debian interpreter that has python3-pydicom (a pyenv or venv `python3` may lack it). */
export const PYTHON = '/usr/bin/python3';

const HERE = fileURLToPath(new URL('.', import.meta.url));
const RT_LINKED_SET = join(HERE, 'rt_linked_set.py');
const DICOM_REFS = join(HERE, 'dicom_refs.py');
const DICOM_STRINGS = join(HERE, 'dicom_strings.py');
const SERIES_EDIT = join(HERE, 'series_edit.py');

function python(script: string, args: readonly string[], timeoutMs = 300_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(
      PYTHON,
      [script, ...args],
      { maxBuffer: 1 << 30, timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err !== null) {
          reject(new Error(`${basename(script)} failed: ${err.message}\n${stderr.slice(-4000)}`));
          return;
        }
        resolve(stdout);
      },
    );
  });
}

let pydicomCheck: Promise<boolean> | undefined;

/** Whether `/usr/bin/python3` can import pydicom (the oracles need it). Cached. */
export function pydicomAvailable(): Promise<boolean> {
  pydicomCheck ??= new Promise((resolve) => {
    execFile(PYTHON, ['-c', 'import pydicom'], { timeout: 60_000 }, (err) => {
      resolve(err === null);
    });
  });
  return pydicomCheck;
}

/** Counts of UI references by kind, as written by rt_linked_set.py and counted by dicom_refs.py. */
export interface ReferenceCounts {
  readonly sop: number;
  /** RTReferencedStudySequence items whose ReferencedSOPInstanceUID holds a Study UID (also in sop). */
  readonly sopViaStudy: number;
  readonly series: number;
  readonly study: number;
  readonly frameOfReference: number;
  readonly other: number;
}

/** One file of the synthetic linked set. */
export interface RtLinkedSetFile {
  /** Relative to the output directory: `<series>/<n>.dcm`. */
  readonly file: string;
  readonly series: 'CT' | 'RTSTRUCT' | 'RTPLAN' | 'RTDOSE';
  readonly modality: string;
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly seriesUid: string;
  readonly studyUid: string;
  readonly frameOfReferenceUid: string | null;
}

/** A planted identifying value; `kind` lets a preset that retains e.g. device identity skip some. */
export interface PlantedPhi {
  readonly value: string;
  readonly kind: 'name' | 'id' | 'date' | 'address' | 'institution' | 'device' | 'text' | 'uid';
  /** Up to 8 places where it was written. */
  readonly where: readonly string[];
}

/** `OUTDIR/manifest.json` written by rt_linked_set.py. */
export interface RtLinkedSetManifest {
  readonly generator: string;
  readonly study: number;
  readonly slices: number;
  readonly patient: { readonly name: string; readonly id: string; readonly issuer: string; readonly birthDate: string };
  readonly studyUid: string;
  readonly frameOfReferenceUid: string;
  readonly studyDate: string;
  readonly files: readonly RtLinkedSetFile[];
  readonly expectedReferences: ReferenceCounts;
  /** Every original identifying value a no-leak check should search for (names and their components, IDs, dates, UIDs, …). */
  readonly phi: readonly string[];
  readonly phiDetail: readonly PlantedPhi[];
}

/** Options for `runRtLinkedSet`. */
export interface RtLinkedSetOptions {
  /** 1 (default): CT + RTSTRUCT + RTPLAN + RTDOSE; 2: a later CT + RTSTRUCT that also references study 1. */
  readonly study?: 1 | 2;
  /** CT slices, default 8; give study 2 the same value as study 1. */
  readonly slices?: number;
}

/** Writes the synthetic linked set into `outDir` (deterministic) and returns its manifest. */
export async function runRtLinkedSet(outDir: string, opts: RtLinkedSetOptions = {}): Promise<RtLinkedSetManifest> {
  const args = [outDir, '--study', String(opts.study ?? 1), '--slices', String(opts.slices ?? 8)];
  await python(RT_LINKED_SET, args);
  return JSON.parse(await readFile(join(outDir, 'manifest.json'), 'utf8')) as RtLinkedSetManifest;
}

/** How `editSeries` changes the copy: what XNAT names its scan by. */
export interface SeriesEdit {
  /** A SeriesNumber, or null for an empty one (Type 2: present without a value). */
  readonly seriesNumber?: number | null;
  /** A new SeriesInstanceUID and SOPInstanceUIDs: another series of the same study and patient. */
  readonly newSeries?: boolean;
}

/** Copies the series in `srcDir` to `outDir` with pydicom (series_edit.py), changed as `edit` says. */
export async function editSeries(
  srcDir: string,
  outDir: string,
  edit: SeriesEdit,
): Promise<{ seriesInstanceUid: string; files: number }> {
  const args = [srcDir, outDir];
  if (edit.seriesNumber === null) {
    args.push('--no-series-number');
  } else if (edit.seriesNumber !== undefined) {
    args.push('--series-number', String(edit.seriesNumber));
  }
  if (edit.newSeries) {
    args.push('--new-series');
  }
  return JSON.parse(await python(SERIES_EDIT, args)) as { seriesInstanceUid: string; files: number };
}

/** An instance found by dicom_refs.py. */
export interface RefsInstance {
  readonly file: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string | null;
  readonly seriesUid: string | null;
  readonly studyUid: string | null;
  readonly frameOfReferenceUid: string | null;
  readonly mediaStorageSopInstanceUid: string | null;
  /** MediaStorageSOPInstanceUID absent or equal to SOPInstanceUID. */
  readonly metaConsistent: boolean;
}

/** A UI value found below an instance's own identity. */
export interface UidReference {
  readonly file: string;
  /** e.g. `ReferencedFrameOfReferenceSequence[0].RTReferencedStudySequence[0].ReferencedSOPInstanceUID`; private elements as `(gggg,eeee)`. */
  readonly path: string;
  readonly keyword: string;
  readonly uid: string;
  readonly kind: 'sop' | 'series' | 'study' | 'frameOfReference' | 'other';
  readonly resolves: boolean;
  /** 'study': a ReferencedSOPInstanceUID that resolved to a Study Instance UID (RTSTRUCT quirk). */
  readonly via?: 'study';
}

/** Output of dicom_refs.py. */
export interface DicomRefsReport {
  readonly instances: readonly RefsInstance[];
  readonly references: readonly UidReference[];
  /** Well-known UIDs (1.2.840.10008.*): SOP classes, coding schemes, … */
  readonly structural: readonly { file: string; path: string; keyword: string; uid: string }[];
  /** References of kind sop/series/study/frameOfReference that resolve to no instance. */
  readonly unresolved: number;
  /** 'other' references whose value occurs nowhere else. */
  readonly unresolvedOther: number;
  readonly counts: Readonly<Record<UidReference['kind'], { total: number; resolved: number; viaStudy?: number }>>;
  readonly errors: readonly { file: string; error: string }[];
}

/** Runs dicom_refs.py over every DICOM file under `dirs` (files also accepted) together. */
export async function dicomRefs(dirs: readonly string[]): Promise<DicomRefsReport> {
  return JSON.parse(await python(DICOM_REFS, dirs)) as DicomRefsReport;
}

/** One text value of a file, from dicom_strings.py. */
export interface DicomString {
  readonly path: string;
  readonly tag: string;
  readonly vr: string;
  readonly value: string;
  readonly private: boolean;
  /** PN only: every non-empty component of every component group. */
  readonly components?: readonly string[];
  /** A printable run found inside a private/UN binary value. */
  readonly binary?: true;
}

/** dicom_strings.py output for one file. */
export interface DicomStringsFile {
  readonly file: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly strings: readonly DicomString[];
}

/** Every text value (all string VRs, every depth, private and File Meta) of each file. */
export async function dicomStrings(files: readonly string[]): Promise<DicomStringsFile[]> {
  return (JSON.parse(await python(DICOM_STRINGS, files)) as { files: DicomStringsFile[] }).files;
}

/** dicom_strings.py --pixel-md5 output for one file. */
export interface PixelMd5 {
  readonly file: string;
  readonly ok: boolean;
  readonly error?: string;
  /** md5 of the PixelData value as stored (native bytes or the encapsulated item stream), or null without PixelData. */
  readonly pixelData: string | null;
  readonly length: number | null;
}

/** md5 of each file's PixelData bytes as stored (decoder-independent). */
export async function pixelMd5(files: readonly string[]): Promise<PixelMd5[]> {
  return (JSON.parse(await python(DICOM_STRINGS, ['--pixel-md5', ...files])) as { files: PixelMd5[] }).files;
}

/** dicom_strings.py --parse-ok output for one file. */
export interface ParseOk {
  readonly file: string;
  readonly ok: boolean;
  readonly error?: string;
  readonly preamble?: boolean;
  readonly transferSyntax?: string;
  readonly elements?: number;
  readonly pixelDataLength?: number | null;
  readonly pixelDataExpected?: number | null;
  readonly fragments?: number;
}

/** Whether pydicom reads each file completely (every element converted, PixelData length/fragments checked). */
export async function parseOk(files: readonly string[]): Promise<ParseOk[]> {
  return (JSON.parse(await python(DICOM_STRINGS, ['--parse-ok', ...files])) as { files: ParseOk[] }).files;
}
