//! The UIDs sniffing reads from a dataset: from the head when it holds them, else from the file behind it.
import { readHeader, readHeaderPrefix, type TagName } from './read.ts';
import { HeaderError } from './elements.ts';
import { encodingOf } from './transfer-syntax.ts';

/** Empty strings count as absent: some writers leave (0002,0002)/(0002,0003) present but empty. */
export function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** Reading the file behind a head, when there is one (sniffFile) and the head is not enough. */
export interface FileAccess {
  readonly path: string;
  /** The first `n` bytes of the file (fewer at its end). */
  readonly readStart: (n: number) => Promise<Buffer>;
}

/**
 * Reads `wanted` from the dataset at `offset`: from the head when it holds them, else from the
 * file. Null when they are not within the head and there is no file to read further.
 */
export async function datasetUids(
  head: Buffer,
  whole: boolean,
  file: FileAccess | null,
  offset: number,
  ts: string,
  wanted: readonly TagName[],
): Promise<Partial<Record<TagName, string>> | null> {
  const enc = encodingOf(ts);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${ts}.`);
  }
  if (!enc.deflated) {
    const h = await readHeaderPrefix(head.subarray(offset), ts, whole, wanted);
    if (h) {
      return h;
    }
  }
  return file ? readHeader(file.path, offset, ts, wanted) : null;
}
