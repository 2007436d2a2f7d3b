//! Recognises DICOM by content (Part 10, meta without preamble, bare dataset, DICOMDIR), not by file name.
// A watched folder holds whatever users drop in it: names and extensions prove nothing, so we look
// at the first bytes the way DCMTK and pydicom do, and only call a file DICOM when it yields the
// UIDs the gateway needs. Completeness (a copy cut short) is checkComplete's job, not ours.
import { open } from 'node:fs/promises';
import { EndOfData, readStart } from './byte-source.ts';
import { parsePart10Header, type ParsedMeta } from './part10.ts';
import { HeaderError } from './elements.ts';
import type { TagName } from './read.ts';
import { classifyBare, VRS } from './sniff-bare.ts';
import { datasetUids, nonEmpty, type FileAccess } from './sniff-uids.ts';
import type { Classified, Sniffed } from './sniffed.ts';
import { encodingOf } from './transfer-syntax.ts';

/** Head size callers read: the File Meta Information and the SOP UIDs fit in it in practice. */
export const SNIFF_BYTES = 64 * 1024;

/** Media Storage Directory Storage: the SOP class of a DICOMDIR. */
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
const NO_INSTANCE_UID = 'DICOM file without SOP Instance UID';
const SOP_UIDS: readonly TagName[] = ['SOPClassUID', 'SOPInstanceUID'];
/** The largest File Meta Information sniffFile reads when it does not fit in the head. */
const MAX_META_BYTES = 16 * 1024 * 1024;

/** parsePart10Header, but never throwing: it reads a long-VR length without checking that 12 bytes are left. */
function parseMeta(head: Buffer): ParsedMeta | null {
  try {
    return parsePart10Header(head);
  } catch (err) {
    if (err instanceof RangeError) {
      return null;
    }
    throw err;
  }
}

/** True when the meta ended inside `head` (rather than where `head` happens to be cut). */
function metaFits(head: Buffer, whole: boolean, meta: ParsedMeta): boolean {
  return whole || meta.datasetOffset + 8 <= head.length;
}

/** Group 0002 at byte 0 with an explicit VR: a File Meta Information written without preamble. */
function looksLikeBareMeta(head: Buffer): boolean {
  return head.length >= 8 && head.readUInt16LE(0) === 0x0002 && head[3] === 0 && VRS.has(head.toString('latin1', 4, 6));
}

/** The public view: the DICOMDIR's syntax is for dicomdir.ts, not the callers'. */
function publicView(c: Classified): Sniffed {
  return c.kind === 'dicomdir' ? { kind: 'dicomdir', datasetOffset: c.datasetOffset } : c;
}

/** A Part 10 file (or meta without preamble): the meta's UIDs, the missing ones taken from the dataset. */
async function classifyPart10(
  head: Buffer,
  whole: boolean,
  file: FileAccess | null,
  meta: ParsedMeta,
  shift: number,
): Promise<Classified> {
  const datasetOffset = meta.datasetOffset - shift;
  const ts = meta.transferSyntaxUid;
  if (meta.sopClassUid === MEDIA_STORAGE_DIRECTORY) {
    return { kind: 'dicomdir', datasetOffset, transferSyntaxUid: ts };
  }
  let sopClassUid = nonEmpty(meta.sopClassUid);
  let sopInstanceUid = nonEmpty(meta.sopInstanceUid);
  if (sopClassUid === undefined || sopInstanceUid === undefined) {
    if (!encodingOf(ts)) {
      return {
        kind: 'invalid',
        reason: `${NO_INSTANCE_UID} in its File Meta Information, and its transfer syntax ${ts} cannot be read`,
      };
    }
    let h;
    try {
      h = await datasetUids(head, whole, file, datasetOffset, ts, SOP_UIDS);
    } catch (err) {
      if (err instanceof EndOfData) {
        return { kind: 'invalid', reason: `${NO_INSTANCE_UID} (cut short before it)` };
      }
      if (err instanceof HeaderError) {
        return { kind: 'invalid', reason: `${NO_INSTANCE_UID} (unreadable dataset: ${err.message})` };
      }
      throw err;
    }
    if (!h) {
      const why =
        encodingOf(ts)?.deflated === true
          ? 'the dataset is deflated'
          : `not within the first ${String(head.length)} bytes`;
      return { kind: 'invalid', reason: `${NO_INSTANCE_UID} in its File Meta Information (${why})` };
    }
    sopClassUid ??= nonEmpty(h.SOPClassUID);
    sopInstanceUid ??= nonEmpty(h.SOPInstanceUID);
  }
  if (sopInstanceUid === undefined) {
    return { kind: 'invalid', reason: NO_INSTANCE_UID };
  }
  if (sopClassUid === undefined) {
    return { kind: 'invalid', reason: 'DICOM file without SOP Class UID' };
  }
  return { kind: 'part10', transferSyntaxUid: ts, sopClassUid, sopInstanceUid, datasetOffset };
}

/** Part 10 first ("DICM" at 128 is decisive), then meta without preamble, then a bare dataset. */
async function classify(head: Buffer, whole: boolean, file: FileAccess | null): Promise<Classified> {
  if (head.length < 8) {
    return { kind: 'not-dicom', reason: 'empty or too short' };
  }
  if (head.length >= 132 && head.toString('latin1', 128, 132) === 'DICM') {
    let meta = parseMeta(head);
    let bytes = head;
    let all = whole;
    // A meta larger than the head (huge private meta elements): read just enough more of the file.
    for (
      let n = head.length * 2;
      file && !all && !(meta && metaFits(bytes, false, meta)) && n <= MAX_META_BYTES;
      n *= 2
    ) {
      bytes = await file.readStart(n);
      meta = parseMeta(bytes);
      all = bytes.length < n;
    }
    if (!meta || !metaFits(bytes, all, meta)) {
      return {
        kind: 'invalid',
        reason: all
          ? 'DICM marker, but the File Meta Information is cut short'
          : `File Meta Information larger than ${String(bytes.length)} bytes`,
      };
    }
    return classifyPart10(bytes, all, file, meta, 0);
  }
  if (looksLikeBareMeta(head)) {
    // Reuse the Part 10 parser behind a fake preamble; offsets are shifted back afterwards.
    const fake = Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), head]);
    const meta = parseMeta(fake);
    if (!meta || !metaFits(fake, whole, meta)) {
      return { kind: 'invalid', reason: 'File Meta Information without preamble, cut short or too large' };
    }
    return classifyPart10(head, whole, file, meta, 132);
  }
  return classifyBare(head, whole, file);
}

/** Classifies a file from its first bytes (`head` = first SNIFF_BYTES, or the whole file when `whole`). */
export async function sniffHead(head: Buffer, whole: boolean): Promise<Sniffed> {
  return publicView(await classify(head, whole, null));
}

/** The first `n` bytes of `path` (fewer when the file is shorter). */
async function readFileStart(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    return await readStart(fh, n);
  } finally {
    await fh.close();
  }
}

/** sniffFile, keeping the transfer syntax of a DICOMDIR (for dicomdir.ts, which walks its records). */
export async function classifyFile(path: string): Promise<Classified> {
  // One byte more than the head tells "exactly SNIFF_BYTES long" from "longer".
  const bytes = await readFileStart(path, SNIFF_BYTES + 1);
  const whole = bytes.length <= SNIFF_BYTES;
  return classify(whole ? bytes : bytes.subarray(0, SNIFF_BYTES), whole, {
    path,
    readStart: (n) => readFileStart(path, n),
  });
}

/** Reads the head of `path` and classifies it. */
export async function sniffFile(path: string): Promise<Sniffed> {
  return publicView(await classifyFile(path));
}
