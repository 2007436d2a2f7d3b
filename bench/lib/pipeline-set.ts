//! The pipeline bench's mixed set: planning CTs with their RT objects, MR studies, and RT treatment records; 10,000 instances by default.
// Default mix (every patient distinct, as from a radiotherapy department and an MR scanner):
// - 6 CT series of 500 slices, 512×512 (~526 KB each), one study and patient each;
// - per CT study one RTSTRUCT (references the CT series), one RTPLAN (references the RTSTRUCT)
//   and one RTDOSE (64×64 grid, references the RTPLAN): the router holds each until what it
//   references is routed;
// - 40 MR series of 100 images, 256×256 (~131 KB), five series per study, eight patients;
// - RT Beams Treatment Records (no pixel data, a few KB) filling the total up to `total`, one
//   series per CT study: the many small objects a treatment system sends.
import { statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  encodeDataset,
  encodeFileMeta,
  syntaxOf,
  TransferSyntax,
  type Element,
} from '../../test/helpers/dicom-encoder.ts';
import { newUid, pixelPattern, writeSeries } from '../../test/helpers/dicom-factory.ts';

const MR_IMAGE = '1.2.840.10008.5.1.4.1.1.4';
const RT_STRUCT = '1.2.840.10008.5.1.4.1.1.481.3';
const RT_PLAN = '1.2.840.10008.5.1.4.1.1.481.5';
const RT_DOSE = '1.2.840.10008.5.1.4.1.1.481.2';
const RT_RECORD = '1.2.840.10008.5.1.4.1.1.481.4';

/** One series of the set, for the bench's bookkeeping. */
export interface SetSeries {
  readonly kind: 'CT' | 'MR' | 'RTSTRUCT' | 'RTPLAN' | 'RTDOSE' | 'RTRECORD';
  readonly seriesUid: string;
  readonly dir: string;
  readonly count: number;
}

export interface PipelineSet {
  readonly root: string;
  readonly series: readonly SetSeries[];
  readonly count: number;
  readonly bytes: number;
}

export interface MixOptions {
  readonly ctSeries: number;
  readonly ctSlices: number;
  readonly mrSeries: number;
  readonly mrImages: number;
  /** Total instance count; RT treatment records make up what the rest leaves. */
  readonly total: number;
}

export const DEFAULT_MIX: MixOptions = { ctSeries: 6, ctSlices: 500, mrSeries: 40, mrImages: 100, total: 10_000 };

interface Patient {
  readonly name: string;
  readonly id: string;
  readonly studyUid: string;
}

const seq = (tag: number, items: readonly (readonly Element[])[]): Element => ({ tag, vr: 'SQ', items });

/** SOP Common, Patient, General Study and Series attributes of a non-image RT object. */
function rtBase(
  p: Patient,
  sopClassUid: string,
  sopInstanceUid: string,
  modality: string,
  seriesUid: string,
  seriesNumber: number,
  n: number,
): Element[] {
  return [
    { tag: 0x00080005, vr: 'CS', value: 'ISO_IR 192' },
    { tag: 0x00080016, vr: 'UI', value: sopClassUid },
    { tag: 0x00080018, vr: 'UI', value: sopInstanceUid },
    { tag: 0x00080020, vr: 'DA', value: '20240101' },
    { tag: 0x00080030, vr: 'TM', value: '120000' },
    { tag: 0x00080050, vr: 'SH', value: '' },
    { tag: 0x00080060, vr: 'CS', value: modality },
    { tag: 0x00080070, vr: 'LO', value: 'XNAT Gateway Bench' },
    { tag: 0x00080090, vr: 'PN', value: '' },
    { tag: 0x00081030, vr: 'LO', value: 'Radiotherapy planning' },
    { tag: 0x0008103e, vr: 'LO', value: `${modality} bench` },
    { tag: 0x00100010, vr: 'PN', value: p.name },
    { tag: 0x00100020, vr: 'LO', value: p.id },
    { tag: 0x00100030, vr: 'DA', value: '19600101' },
    { tag: 0x00100040, vr: 'CS', value: 'O' },
    { tag: 0x0020000d, vr: 'UI', value: p.studyUid },
    { tag: 0x0020000e, vr: 'UI', value: seriesUid },
    { tag: 0x00200010, vr: 'SH', value: '1' },
    { tag: 0x00200011, vr: 'IS', value: String(seriesNumber) },
    { tag: 0x00200013, vr: 'IS', value: String(n) },
  ];
}

async function writeObject(
  file: string,
  sopClassUid: string,
  sopInstanceUid: string,
  elements: readonly Element[],
): Promise<number> {
  const ts = TransferSyntax.ExplicitVRLittleEndian;
  const bytes = Buffer.concat([
    encodeFileMeta({ sopClassUid, sopInstanceUid, transferSyntax: ts }),
    encodeDataset(elements, syntaxOf(ts)),
  ]);
  await writeFile(file, bytes);
  return bytes.length;
}

/** RTSTRUCT → CT series, RTPLAN → RTSTRUCT, RTDOSE → RTPLAN, and the treatment records → RTPLAN. */
async function writeRt(
  root: string,
  k: number,
  p: Patient,
  ct: { seriesUid: string; frameUid: string },
  records: number,
): Promise<{ series: SetSeries[]; bytes: number }> {
  const uids = {
    ss: newUid(),
    plan: newUid(),
    dose: newUid(),
    ssSeries: newUid(),
    planSeries: newUid(),
    doseSeries: newUid(),
    recSeries: newUid(),
  };
  const dir = (name: string): string => join(root, `rt${String(k)}-${name}`);
  let bytes = 0;
  for (const d of ['struct', 'plan', 'dose', 'records']) {
    await mkdir(dir(d), { recursive: true });
  }
  bytes += await writeObject(join(dir('struct'), '0001.dcm'), RT_STRUCT, uids.ss, [
    ...rtBase(p, RT_STRUCT, uids.ss, 'RTSTRUCT', uids.ssSeries, 90, 1),
    { tag: 0x30060002, vr: 'SH', value: 'BODY' },
    { tag: 0x30060008, vr: 'DA', value: '20240101' },
    seq(0x30060010, [
      [
        { tag: 0x00200052, vr: 'UI', value: ct.frameUid },
        seq(0x30060012, [
          [
            { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.3.1.2.3.1' },
            { tag: 0x00081155, vr: 'UI', value: p.studyUid },
            seq(0x30060014, [[{ tag: 0x0020000e, vr: 'UI', value: ct.seriesUid }]]),
          ],
        ]),
      ],
    ]),
    seq(0x30060020, [
      [
        { tag: 0x30060022, vr: 'IS', value: '1' },
        { tag: 0x30060024, vr: 'UI', value: ct.frameUid },
        { tag: 0x30060026, vr: 'LO', value: 'BODY' },
      ],
    ]),
  ]);
  bytes += await writeObject(join(dir('plan'), '0001.dcm'), RT_PLAN, uids.plan, [
    ...rtBase(p, RT_PLAN, uids.plan, 'RTPLAN', uids.planSeries, 91, 1),
    { tag: 0x00200052, vr: 'UI', value: ct.frameUid },
    { tag: 0x300a0002, vr: 'SH', value: 'PLAN1' },
    { tag: 0x300a000c, vr: 'CS', value: 'PATIENT' },
    seq(0x300c0060, [
      [
        { tag: 0x00081150, vr: 'UI', value: RT_STRUCT },
        { tag: 0x00081155, vr: 'UI', value: uids.ss },
      ],
    ]),
  ]);
  bytes += await writeObject(join(dir('dose'), '0001.dcm'), RT_DOSE, uids.dose, [
    ...rtBase(p, RT_DOSE, uids.dose, 'RTDOSE', uids.doseSeries, 92, 1),
    { tag: 0x00200052, vr: 'UI', value: ct.frameUid },
    { tag: 0x00200032, vr: 'DS', value: ['0', '0', '0'] },
    { tag: 0x00200037, vr: 'DS', value: ['1', '0', '0', '0', '1', '0'] },
    { tag: 0x00280002, vr: 'US', value: 1 },
    { tag: 0x00280004, vr: 'CS', value: 'MONOCHROME2' },
    { tag: 0x00280008, vr: 'IS', value: '1' },
    { tag: 0x00280010, vr: 'US', value: 64 },
    { tag: 0x00280011, vr: 'US', value: 64 },
    { tag: 0x00280030, vr: 'DS', value: ['2.5', '2.5'] },
    { tag: 0x00280100, vr: 'US', value: 16 },
    { tag: 0x00280101, vr: 'US', value: 16 },
    { tag: 0x00280102, vr: 'US', value: 15 },
    { tag: 0x00280103, vr: 'US', value: 0 },
    { tag: 0x3004000a, vr: 'CS', value: 'PLAN' },
    { tag: 0x30040002, vr: 'CS', value: 'GY' },
    { tag: 0x30040004, vr: 'CS', value: 'PHYSICAL' },
    { tag: 0x3004000e, vr: 'DS', value: '0.0001' },
    seq(0x300c0002, [
      [
        { tag: 0x00081150, vr: 'UI', value: RT_PLAN },
        { tag: 0x00081155, vr: 'UI', value: uids.plan },
      ],
    ]),
    { tag: 0x7fe00010, vr: 'OW', value: pixelPattern(64, 64, k) },
  ]);
  for (let n = 1; n <= records; n++) {
    const sop = newUid();
    bytes += await writeObject(join(dir('records'), `${String(n).padStart(4, '0')}.dcm`), RT_RECORD, sop, [
      ...rtBase(p, RT_RECORD, sop, 'RTRECORD', uids.recSeries, 93, n),
      { tag: 0x30080250, vr: 'DA', value: '20240102' },
      { tag: 0x30080251, vr: 'TM', value: '090000' },
      seq(0x300c0002, [
        [
          { tag: 0x00081150, vr: 'UI', value: RT_PLAN },
          { tag: 0x00081155, vr: 'UI', value: uids.plan },
        ],
      ]),
      seq(0x30080030, [
        [
          { tag: 0x300a00c0, vr: 'IS', value: '1' },
          { tag: 0x30080022, vr: 'IS', value: String(n) },
        ],
      ]),
    ]);
  }
  return {
    series: [
      { kind: 'RTSTRUCT', seriesUid: uids.ssSeries, dir: dir('struct'), count: 1 },
      { kind: 'RTPLAN', seriesUid: uids.planSeries, dir: dir('plan'), count: 1 },
      { kind: 'RTDOSE', seriesUid: uids.doseSeries, dir: dir('dose'), count: 1 },
      { kind: 'RTRECORD', seriesUid: uids.recSeries, dir: dir('records'), count: records },
    ],
    bytes,
  };
}

/** Writes the mix under `root` (one folder per series). */
export async function writePipelineSet(root: string, mix: MixOptions = DEFAULT_MIX): Promise<PipelineSet> {
  const series: SetSeries[] = [];
  let bytes = 0;
  const linked = mix.ctSeries * 3;
  const recordsTotal = mix.total - mix.ctSeries * mix.ctSlices - mix.mrSeries * mix.mrImages - linked;
  if (recordsTotal < 0) {
    throw new Error(`--total ${String(mix.total)} is smaller than the CT, MR and linked RT objects of the mix.`);
  }
  for (let k = 0; k < mix.ctSeries; k++) {
    const p: Patient = { name: `Bench^Rt${String(k)}`, id: `BENCHRT${String(k).padStart(3, '0')}`, studyUid: newUid() };
    const ct = { seriesUid: newUid(), frameUid: newUid() };
    const dir = join(root, `ct${String(k)}`);
    const files = await writeSeries(dir, {
      count: mix.ctSlices,
      rows: 512,
      columns: 512,
      studyInstanceUid: p.studyUid,
      seriesInstanceUid: ct.seriesUid,
      frameOfReferenceUid: ct.frameUid,
      patientName: p.name,
      patientId: p.id,
      seriesNumber: 2,
      seriesDescription: 'Planning CT',
    });
    series.push({ kind: 'CT', seriesUid: ct.seriesUid, dir, count: files.length });
    bytes += files.length * statSync(files[0] ?? '').size;
    // Records spread over the CT studies; the first ones take the remainder.
    const records = Math.floor(recordsTotal / mix.ctSeries) + (k < recordsTotal % mix.ctSeries ? 1 : 0);
    const rt = await writeRt(root, k, p, ct, records);
    series.push(...rt.series);
    bytes += rt.bytes;
  }
  const perStudy = 5;
  const mrStudies = Array.from({ length: Math.ceil(mix.mrSeries / perStudy) }, () => newUid());
  for (let s = 0; s < mix.mrSeries; s++) {
    const study = Math.floor(s / perStudy);
    const seriesUid = newUid();
    const dir = join(root, `mr${String(s)}`);
    const files = await writeSeries(dir, {
      count: mix.mrImages,
      rows: 256,
      columns: 256,
      sopClassUid: MR_IMAGE,
      modality: 'MR',
      studyInstanceUid: mrStudies[study] ?? newUid(),
      seriesInstanceUid: seriesUid,
      patientName: `Bench^Mr${String(study)}`,
      patientId: `BENCHMR${String(study).padStart(3, '0')}`,
      seriesNumber: (s % perStudy) + 1,
      seriesDescription: `MR sequence ${String((s % perStudy) + 1)}`,
    });
    series.push({ kind: 'MR', seriesUid, dir, count: files.length });
    bytes += files.length * statSync(files[0] ?? '').size;
  }
  return { root, series, count: series.reduce((a, s) => a + s.count, 0), bytes };
}
