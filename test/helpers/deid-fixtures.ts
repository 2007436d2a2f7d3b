//! Real DICOM files shipped by Debian packages for the de-identification tests (deid.md §4.1).
//! The pydicom oracles that check them are in deid-oracles.ts.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { isCi } from './peers.ts';
import { readDicomFile, writeDicomFile } from '../../src/dicom/dataset-file.ts';
import { sniffFile } from '../../src/dicom/sniff.ts';
import { rawText } from '../../src/dicom/values.ts';
import { newElement, put } from '../../src/transforms/anonymise/insert.ts';

const DIST = '/usr/lib/python3/dist-packages';
const PYDICOM_TEST = join(DIST, 'pydicom/data/test_files');
const PYDICOM_CHARSET = join(DIST, 'pydicom/data/charset_files');

/** Which Debian package a fixture comes from. Only `pydicom*` groups are mandatory. */
export type DeidFixtureGroup =
  | 'pydicom'
  | 'pydicom-charset'
  | 'pydicom-dicomdir'
  | 'dicom3tools'
  | 'nibabel'
  | 'heudiconv'
  | 'dicomnifti'
  | 'octave-dicom'
  | 'dicomscope';

/** One installed file the de-identification tests should run over. Read it in place, never copy it into the repo. */
export interface DeidFixture {
  /** Unique, `<group>/<path inside the package's data directory>`. */
  readonly name: string;
  readonly path: string;
  /** What the file exercises. */
  readonly notes: string;
  readonly group: DeidFixtureGroup;
  /** The Debian package providing it. */
  readonly debianPackage: string;
  /** True for python3-pydicom files: under CI=true they must exist. */
  readonly mandatory: boolean;
  /** gzip-compressed (nibabel's `.dcm.gz`): use `fixtureFile` to get a readable DICOM path. */
  readonly gzip: boolean;
  /** True when the file is no DICOM Part 10 file (no preamble/File Meta): a bare dataset. */
  readonly bare: boolean;
}

interface Spec {
  readonly rel: string;
  readonly notes: string;
  readonly bare?: boolean;
}

const PYDICOM_SPECS: readonly Spec[] = [
  {
    rel: 'CT_small.dcm',
    notes: 'CT, explicit LE, GE LightSpeed; 9 GE private creators, 179 private elements; InstitutionName',
  },
  { rel: 'MR_small.dcm', notes: 'MR, explicit LE' },
  { rel: 'MR_small_implicit.dcm', notes: 'MR, implicit LE (same PixelData bytes as MR_small)' },
  { rel: 'MR_small_bigendian.dcm', notes: 'MR, explicit big endian (retired syntax)' },
  { rel: 'MR_small_expb.dcm', notes: 'MR, explicit big endian' },
  { rel: 'MR_small_RLE.dcm', notes: 'MR, RLE lossless (encapsulated)' },
  { rel: 'MR_small_jp2klossless.dcm', notes: 'MR, JPEG 2000 lossless' },
  { rel: 'MR_small_jpeg_ls_lossless.dcm', notes: 'MR, JPEG-LS lossless' },
  { rel: 'MR_small_padded.dcm', notes: 'MR, PixelData longer than Rows x Columns (padding)' },
  {
    rel: 'rtplan.dcm',
    notes: 'RT Plan, implicit LE; refs an RTSTRUCT and dose not shipped; PN Last^First^mid^pre, Operator',
  },
  { rel: 'rtdose.dcm', notes: 'RT Dose multi-frame (15 frames, 32-bit), implicit LE; refs an RT Plan not shipped' },
  { rel: 'rtdose_1frame.dcm', notes: 'RT Dose, one frame' },
  { rel: 'rtdose_expb.dcm', notes: 'RT Dose multi-frame, explicit big endian' },
  { rel: 'rtdose_rle.dcm', notes: 'RT Dose multi-frame, RLE' },
  {
    rel: 'rtstruct.dcm',
    notes: 'RT Structure Set without File Meta (bare implicit LE dataset); OperatorsName, birth date',
    bare: true,
  },
  {
    rel: 'liver_1frame.dcm',
    notes: 'Segmentation (dcmqi): ReferencedSeriesSequence/SourceImageSequence to CTs not shipped',
  },
  { rel: 'liver_expb_1frame.dcm', notes: 'Segmentation, explicit big endian' },
  { rel: 'test-SR.dcm', notes: 'Comprehensive SR, 56 sequences, image references in ContentSequence' },
  { rel: 'reportsi.dcm', notes: 'Basic Text SR' },
  { rel: 'reportsi_with_empty_number_tags.dcm', notes: 'Basic Text SR with empty IS/DS' },
  { rel: 'waveform_ecg.dcm', notes: '12-lead ECG (Mortara), private elements, non-image IOD' },
  { rel: 'SC_rgb_rle.dcm', notes: 'RGB secondary capture, RLE' },
  { rel: 'SC_rgb_rle_2frame.dcm', notes: 'RGB secondary capture, RLE, 2 frames' },
  { rel: 'SC_rgb_jpeg_dcmtk.dcm', notes: 'RGB secondary capture, JPEG baseline' },
  { rel: 'SC_rgb_jpeg_gdcm.dcm', notes: 'RGB secondary capture, JPEG lossless SV1' },
  { rel: 'SC_ybr_full_422_uncompressed.dcm', notes: 'Secondary capture, native YBR_FULL_422' },
  { rel: 'JPGExtended.dcm', notes: 'GE MILLENNIUM MG as SC, JPEG extended 12-bit, private elements' },
  { rel: 'JPEG2000.dcm', notes: 'NM whole body as SC, JPEG 2000' },
  { rel: 'GDCMJ2K_TextGBR.dcm', notes: 'JPEG 2000 secondary capture with text' },
  { rel: '693_J2KI.dcm', notes: 'CT, JPEG 2000 lossy; PN CQ500-CT-310' },
  { rel: 'J2K_pixelrep_mismatch.dcm', notes: 'CT, JPEG 2000 lossless, ISO 2022 IR 13/87 character set' },
  { rel: 'ExplVR_BigEnd.dcm', notes: 'US RGB, explicit big endian, G.E. LOGIQ 700' },
  { rel: 'ExplVR_BigEndNoMeta.dcm', notes: 'RT Ion Plan fragment, explicit BE, no File Meta', bare: true },
  { rel: 'ExplVR_LitEndNoMeta.dcm', notes: 'RT Ion Plan fragment, explicit LE, no File Meta', bare: true },
  { rel: 'nested_priv_SQ.dcm', notes: 'private SQ nested in a private SQ' },
  { rel: 'priv_SQ.dcm', notes: 'undefined-length private SQ' },
  { rel: 'UN_sequence.dcm', notes: 'a sequence encoded with VR UN' },
  { rel: 'image_dfl.dcm', notes: 'Secondary capture, deflated explicit LE' },
];

// One instance per series of the two patients, plus the DICOMDIR whose records hold names and IDs.
const DICOMDIR_SPECS: readonly Spec[] = [
  { rel: 'DICOMDIR', notes: 'DICOMDIR (dcmmkdir): DirectoryRecordSequence with PatientName/ID of 2 patients' },
  ...[
    '77654033/CR1/6154',
    '77654033/CR2/6247',
    '77654033/CR3/6278',
    '77654033/CT2/17106',
    '98892001/CT2N/6293',
    '98892001/CT5N/2062',
    '98892003/MR1/4919',
    '98892003/MR2/4950',
    '98892003/MR700/4467',
  ].map((rel) => ({
    rel,
    notes: `${rel.includes('/CR') ? 'CR' : rel.includes('/CT') ? 'CT' : 'MR'} of patient ${rel.startsWith('77654033') ? 'Doe^Archibald' : 'Doe^Peter'} (multi-patient pseudonyms)`,
  })),
];

const NIBABEL_DATA = join(DIST, 'nibabel/nicom/tests/data');
const NIBABEL_SPECS: readonly Spec[] = [
  { rel: '0.dcm', notes: 'Siemens MR mosaic with CSA headers (private OB blobs)' },
  { rel: '1.dcm', notes: 'Siemens MR mosaic with CSA headers' },
  { rel: 'csa_slice_norm.dcm', notes: 'Siemens MR, CSA slice normal' },
  { rel: 'decimal_rescale.dcm', notes: 'MR with decimal rescale values' },
  { rel: 'slicethickness_empty_string.dcm', notes: 'J2K lossless MIP, DERIVED\\SECONDARY, empty SliceThickness' },
  {
    rel: 'philips_mprage.dcm.gz',
    notes: 'Enhanced MR, 176 frames (23 MB), Philips private groups (6,407 private elements), 1,803 sequences',
  },
  { rel: 'siemens_dwi_0.dcm.gz', notes: 'Siemens DWI b=0 mosaic, CSA headers' },
  { rel: 'siemens_dwi_1000.dcm.gz', notes: 'Siemens DWI b=1000 mosaic, CSA headers' },
];

function listDcm(dir: string, recursive: boolean): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const p = join(dir, entry.name);
    if (entry.isDirectory() && recursive) {
      out.push(...listDcm(p, true));
    } else if (entry.isFile() && entry.name.toLowerCase().endsWith('.dcm')) {
      out.push(p);
    }
  }
  return out;
}

function octaveDicomDirs(): string[] {
  const root = '/usr/share/octave/packages';
  if (!existsSync(root)) {
    return [];
  }
  return readdirSync(root)
    .filter((d) => d.startsWith('dicom-'))
    .sort()
    .map((d) => join(root, d, 'imdata'));
}

interface Candidate {
  readonly name: string;
  readonly path: string;
  readonly notes: string;
  readonly group: DeidFixtureGroup;
  readonly debianPackage: string;
  readonly mandatory: boolean;
  readonly bare: boolean;
}

function candidates(): Candidate[] {
  const c: Candidate[] = [];
  const add = (
    group: DeidFixtureGroup,
    debianPackage: string,
    mandatory: boolean,
    name: string,
    path: string,
    notes: string,
    bare = false,
  ): void => {
    c.push({ name: `${group}/${name}`, path, notes, group, debianPackage, mandatory, bare });
  };
  for (const s of PYDICOM_SPECS) {
    add('pydicom', 'python3-pydicom', true, s.rel, join(PYDICOM_TEST, s.rel), s.notes, s.bare ?? false);
  }
  for (const p of listDcm(PYDICOM_CHARSET, false)) {
    add(
      'pydicom-charset',
      'python3-pydicom',
      true,
      basename(p),
      p,
      'Specific Character Set sample: non-ASCII PN/LO (ISO 8859, ISO 2022, UTF-8, GB18030)',
    );
  }
  for (const s of DICOMDIR_SPECS) {
    add('pydicom-dicomdir', 'python3-pydicom', true, s.rel, join(PYDICOM_TEST, 'dicomdirtests', s.rel), s.notes);
  }
  add(
    'dicom3tools',
    'dicom3tools',
    false,
    'examples/0051.dcm',
    '/usr/share/doc/dicom3tools/examples/0051.dcm',
    'Siemens Prisma_fit ASL mosaic MR, 38 private elements (BSD-2, C. Rorden)',
  );
  for (const s of NIBABEL_SPECS) {
    add('nibabel', 'python3-nibabel', false, s.rel, join(NIBABEL_DATA, s.rel), s.notes);
  }
  const heudiconv = join(DIST, 'heudiconv/tests/data');
  for (const p of listDcm(heudiconv, true)) {
    const rel = p.slice(heudiconv.length + 1);
    add(
      'heudiconv',
      'heudiconv',
      false,
      rel,
      p,
      rel.includes('PhoenixDocument')
        ? 'Siemens Enhanced SR "CSA REPORT" (Phoenix protocol in private tags)'
        : 'Siemens MR (Prisma/TrioTim): OperatorsName, Institution, StationName, DeviceSerialNumber, CSA private groups',
    );
  }
  add(
    'dicomnifti',
    'dicomnifti',
    false,
    'examples/0001.dcm',
    '/usr/share/doc/dicomnifti/examples/0001.dcm',
    'Siemens ASL mosaic MR (BSD-2, C. Rorden)',
  );
  for (const dir of octaveDicomDirs()) {
    for (const p of listDcm(dir, false)) {
      const n = basename(p);
      add(
        'octave-dicom',
        'octave-dicom',
        false,
        n,
        p,
        n === 'rtstruct.dcm'
          ? 'Varian VariSeed RTSTRUCT: 11 CT refs, RTReferencedStudySequence quirk, leading-zero UID components (GPL-3+: read in place, never copy)'
          : 'octave-dicom sample from gdcmData (GPL-3+: read in place, never copy)',
      );
    }
  }
  for (const n of ['reportki.dcm', 'reportsi.dcm']) {
    add(
      'dicomscope',
      'dicomscope',
      false,
      n,
      join('/usr/share/dicomscope/reports', n),
      'Basic Text SR (OFFIS licence)',
    );
  }
  return c;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    // Absent or unreadable: not a fixture on this machine.
    return false;
  }
}

/** The fixtures installed on this machine, in a stable order (mandatory pydicom sets first). */
export function deidFixtures(): DeidFixture[] {
  return candidates()
    .filter((c) => isFile(c.path))
    .map((c) => ({ ...c, gzip: c.path.endsWith('.gz') }));
}

/** Mandatory fixture files (python3-pydicom's) that are not installed, as paths. */
export function missingMandatoryFixtures(): string[] {
  return candidates()
    .filter((c) => c.mandatory && !isFile(c.path))
    .map((c) => c.path);
}

/**
 * Peers missing for the de-identification fixtures, for `describeWithPeers(…, otherMissing)`:
 * `['python3-pydicom']` when any mandatory file is absent, else `[]`.
 */
export function deidFixturesMissing(): string[] {
  return missingMandatoryFixtures().length > 0 ? ['python3-pydicom'] : [];
}

/**
 * Whether the mandatory fixture set (python3-pydicom's files) is installed. Under `CI=true` a
 * missing set throws, naming the package, so a green run cannot hide skipped fixtures.
 */
export function requireDeidFixtures(): boolean {
  const missing = missingMandatoryFixtures();
  if (missing.length > 0 && isCi) {
    throw new Error(
      `Missing de-identification fixtures (apt-get install python3-pydicom): ${missing.slice(0, 5).join(', ')}${missing.length > 5 ? ` and ${String(missing.length - 5)} more` : ''}.`,
    );
  }
  return missing.length === 0;
}

/** A readable DICOM path for `f`: its own path, or for a `.gz` fixture a decompressed copy in `tmpDir`. */
export async function fixtureFile(f: DeidFixture, tmpDir: string): Promise<string> {
  if (!f.gzip) {
    return f.path;
  }
  const out = join(tmpDir, f.name.replaceAll('/', '_').replace(/\.gz$/, ''));
  if (!existsSync(out)) {
    await mkdir(tmpDir, { recursive: true });
    await writeFile(out, gunzipSync(await readFile(f.path)));
  }
  return out;
}

/**
 * Copies `src` to `out`, adding a PatientID and a StudyInstanceUID where the file has none (many
 * of pydicom's files lack them, and the gateway holds such a series rather than merge it with
 * others): the file can then be de-identified, everything else byte for byte as it was. Returns
 * which keys were added, or null when `src` is no readable instance.
 */
export async function keyedCopy(
  src: string,
  out: string,
  n: number,
): Promise<('PatientID' | 'StudyInstanceUID')[] | null> {
  const s = await sniffFile(src);
  if (s.kind !== 'part10' && s.kind !== 'bare') {
    return null;
  }
  let file;
  try {
    file = await readDicomFile(src, s);
  } catch {
    return null; // unreadable: the test copies it as it is and expects it to be listed
  }
  const els = file.main.elements;
  const added: ('PatientID' | 'StudyInstanceUID')[] = [];
  const empty = (tag: number): boolean => {
    const el = els.find((e) => e.tag === tag);
    return !el || rawText(el).trim() === '';
  };
  if (empty(0x00100020)) {
    // One patient per study, so files of one study (several series) stay together.
    const study = els.find((e) => e.tag === 0x0020000d);
    const basis = study && rawText(study).trim() !== '' ? rawText(study).trim() : String(n);
    put(els, newElement(0x00100020, [`FIXKEY${createHash('sha256').update(basis).digest('hex').slice(0, 8)}`]));
    added.push('PatientID');
  }
  if (empty(0x0020000d)) {
    put(els, newElement(0x0020000d, [`1.2.826.0.1.3680043.8.498.77${String(n)}`]));
    added.push('StudyInstanceUID');
  }
  const head = s.datasetOffset > 0 ? (await readFile(src)).subarray(0, s.datasetOffset) : Buffer.alloc(0);
  await writeDicomFile(file, head, out);
  return added;
}
