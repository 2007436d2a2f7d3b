//! Profile `none`: each instance written out as it came, but for PatientComments (original File Meta kept).
// Identifiable data leaves the gateway only by this explicit choice, which the daemon logs at start.
// The files are still rewritten, because XNAT files a session by the PatientComments labels.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { writeDicomFile } from '../../dicom/dataset-file.ts';
import { formatPatientComments } from '../../dicom/labels.ts';
import { openInstance } from './instance.ts';
import { newElement, put, type Labels } from './insert.ts';
import { outputName, type SeriesInput, type SeriesOutputInstance } from './series-types.ts';

/** Writes every input into `outDir` with the series' labels in PatientComments, one at a time. */
export async function passThroughSeries(
  inputs: readonly SeriesInput[],
  labels: Labels,
  outDir: string,
): Promise<SeriesOutputInstance[]> {
  const out: SeriesOutputInstance[] = [];
  for (const [i, input] of inputs.entries()) {
    out.push(await passThrough(input, labels, join(outDir, outputName(i))));
  }
  return out;
}

/** One instance unchanged except PatientComments, original meta kept. */
async function passThrough(input: SeriesInput, labels: Labels, out: string): Promise<SeriesOutputInstance> {
  const opened = await openInstance(input);
  const head =
    input.datasetOffset > 0 ? (await readFile(input.path)).subarray(0, input.datasetOffset) : Buffer.alloc(0);
  const comments = newElement(0x00104000, [formatPatientComments(labels.project, labels.subject, labels.session)]);
  put(opened.file.main.elements, comments);
  const w = await writeDicomFile(opened.file, head, out);
  return {
    path: out,
    size: w.size,
    sopInstanceUid: opened.identity.sopInstanceUid,
    sopClassUid: opened.identity.sopClassUid,
  };
}
