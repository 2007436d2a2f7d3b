//! XNAT's scan id for a delivered series: its SeriesNumber, else its UID. It finds our scan where a
//! listing has no UID, and names the scan we add by REST as XNAT's own session builder would.
import { open } from 'node:fs/promises';
import { parsePart10Header } from '../dicom/part10.ts';
import { readHeader } from '../dicom/read.ts';

/** SeriesNumber of the Part-10 file at `path` as stored (trimmed text: `007` stays `007`), or null. */
export async function seriesNumberOf(path: string): Promise<string | null> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    const buf = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    head = buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const meta = parsePart10Header(head);
  if (!meta) {
    return null;
  }
  const h = await readHeader(path, meta.datasetOffset, meta.transferSyntaxUid, ['SeriesNumber']);
  return h.SeriesNumber?.trim() || null;
}

/**
 * The id XNAT's session builder (DICOMSessionBuilder) gives a series alone in its number: the
 * SeriesNumber text (a leading `+` made `_`), else the Series Instance UID with every non-word
 * character made `_`. Series sharing a number in one build become `{N}-{Modality}{index}` instead.
 */
export function xnatScanId(seriesNumber: string | null, seriesUid: string): string {
  const n = seriesNumber?.trim() ?? '';
  return n !== '' ? n.replace(/^\+/, '_') : seriesUid.replace(/\W/g, '_');
}
