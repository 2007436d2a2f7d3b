//! The input of an offline anonymise run: its files, grouped into series, and every other file listed with its reason.
import { readdir, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { readHeader } from '../dicom/read.ts';
import { sniffFile } from '../dicom/sniff.ts';
import type { SeriesInput } from '../transforms/anonymise/series-types.ts';

/** An input file that is in no series. `dicom`: a DICOM file that could not be processed (exit 65). */
export interface OfflineSkip {
  readonly path: string;
  readonly reason: string;
  readonly dicom: boolean;
}

/** Every regular file under `path` (or `path` itself), sorted; symbolic links are not followed. */
export async function listFiles(path: string): Promise<string[]> {
  const st = await lstat(path);
  if (st.isFile()) {
    return [path];
  }
  if (!st.isDirectory()) {
    return [];
  }
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isSymbolicLink()) {
      continue;
    }
    out.push(...(await listFiles(join(path, e.name))));
  }
  return out;
}

function messageOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ?? (err instanceof Error ? err.message : String(err));
}

/** Groups DICOM instances by (study, series); every other file is listed with its reason. */
export async function groupSeries(
  files: readonly string[],
  skipped: OfflineSkip[],
): Promise<Map<string, SeriesInput[]>> {
  const groups = new Map<string, SeriesInput[]>();
  for (const path of files) {
    const s = await sniffFile(path).catch((err: unknown) => ({
      kind: 'unreadable' as const,
      reason: `cannot be read (${messageOf(err)})`,
    }));
    if (s.kind === 'unreadable') {
      // Whether it is DICOM cannot be told: counted as one, so the run does not pass for complete.
      skipped.push({ path, reason: s.reason, dicom: true });
      continue;
    }
    if (s.kind === 'not-dicom') {
      skipped.push({ path, reason: /^not DICOM/i.test(s.reason) ? s.reason : `not DICOM: ${s.reason}`, dicom: false });
      continue;
    }
    if (s.kind === 'dicomdir') {
      skipped.push({ path, reason: 'a DICOMDIR (media index), not an instance', dicom: false });
      continue;
    }
    if (s.kind === 'invalid') {
      skipped.push({ path, reason: `DICOM, but not an instance that can be de-identified: ${s.reason}`, dicom: true });
      continue;
    }
    let h;
    try {
      h = await readHeader(path, s.datasetOffset, s.transferSyntaxUid, ['StudyInstanceUID', 'SeriesInstanceUID']);
    } catch (err) {
      skipped.push({ path, reason: `DICOM, but its header cannot be read (${messageOf(err)})`, dicom: true });
      continue;
    }
    const key = `${h.StudyInstanceUID ?? ''}|${h.SeriesInstanceUID ?? ''}`;
    const list = groups.get(key) ?? [];
    list.push({
      path,
      datasetOffset: s.datasetOffset,
      transferSyntaxUid: s.transferSyntaxUid,
      sopInstanceUid: s.sopInstanceUid,
      sopClassUid: s.sopClassUid,
    });
    groups.set(key, list);
  }
  return groups;
}
