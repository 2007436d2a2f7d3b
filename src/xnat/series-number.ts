//! The SeriesNumber of a delivered file: XNAT names a scan by it, so it finds our scan where a listing has no UID.
import { open } from 'node:fs/promises';
import { parsePart10Header } from '../dicom/part10.ts';
import { readHeader } from '../dicom/read.ts';

/** SeriesNumber of the Part-10 file at `path` as XNAT would use it for the scan id, or null. */
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
  const n = h.SeriesNumber?.trim();
  return n && /^-?\d+$/.test(n) ? String(Number(n)) : null;
}
