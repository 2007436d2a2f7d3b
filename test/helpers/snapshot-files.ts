//! Writes a small series to disk as the anonymise transform would hand it to a sink (labels in PatientComments).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { SeriesLabels, SeriesSnapshot } from '../../src/contracts/series.ts';
import { newUid, writeInstance, type Element, type InstanceOptions } from './dicom-factory.ts';

export interface SnapshotOptions {
  readonly count: number;
  readonly labels: SeriesLabels;
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly seriesNumber?: number;
  readonly modality?: string;
  /** Per-instance factory options (rows, transfer syntax, …). */
  readonly instance?: Omit<
    InstanceOptions,
    'studyInstanceUid' | 'seriesInstanceUid' | 'instanceNumber' | 'extraElements'
  >;
  readonly extraElements?: readonly Element[];
  readonly seriesId?: number;
}

/** `count` instances under `dir`, PatientName/PatientID/PatientComments set from the labels as anonymise does. */
export async function writeSnapshot(dir: string, o: SnapshotOptions): Promise<SeriesSnapshot> {
  const studyInstanceUid = o.studyInstanceUid ?? newUid();
  const seriesInstanceUid = o.seriesInstanceUid ?? newUid();
  await mkdir(dir, { recursive: true });
  const { project, subject, session } = o.labels;
  const extra: Element[] = [
    { tag: 0x00104000, vr: 'LT', value: `Project: ${project} Subject: ${subject} Session: ${session}` },
    ...(o.extraElements ?? []),
  ];
  const instances = [];
  for (let i = 1; i <= o.count; i++) {
    const info = await writeInstance(join(dir, `${String(i)}.dcm`), {
      ...o.instance,
      studyInstanceUid,
      seriesInstanceUid,
      instanceNumber: i,
      seriesNumber: o.seriesNumber ?? 1,
      modality: o.modality ?? 'CT',
      patientName: subject,
      patientId: session,
      extraElements: extra,
    });
    instances.push({
      instanceId: i,
      sopInstanceUid: info.sopInstanceUid,
      sopClassUid: info.sopClassUid,
      transferSyntaxUid: info.transferSyntaxUid,
      instanceNumber: i,
      path: info.path,
      size: info.bytes,
    });
  }
  return {
    seriesId: o.seriesId ?? 1,
    studyInstanceUid,
    seriesInstanceUid,
    batch: 1,
    modality: o.modality ?? 'CT',
    instances,
    project,
    labels: o.labels,
  };
}
