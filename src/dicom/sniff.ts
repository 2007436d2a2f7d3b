//! Recognises DICOM by content (Part 10, meta without preamble, bare dataset, DICOMDIR), not by file name.
// A watched folder holds whatever users drop in it: names and extensions prove nothing, so we look
// at the first bytes the way DCMTK and pydicom do, and only call a file DICOM when it yields the
// UIDs the gateway needs. Completeness (a copy cut short) is checkComplete's job, not ours.
import { open } from 'node:fs/promises';
import { EndOfData, readStart } from './byte-source.ts';
import { parsePart10Header, type ParsedMeta } from './part10.ts';
import { HeaderError } from './elements.ts';
import { readHeader, readHeaderPrefix, type TagName } from './read.ts';
import { encodingOf, TS } from './transfer-syntax.ts';

export type Sniffed =
  | {
      readonly kind: 'part10';
      readonly transferSyntaxUid: string;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly datasetOffset: number;
    }
  | {
      readonly kind: 'bare';
      readonly transferSyntaxUid: string;
      readonly sopClassUid: string;
      readonly sopInstanceUid: string;
      readonly datasetOffset: number;
    }
  | { readonly kind: 'dicomdir'; readonly datasetOffset: number }
  /**
   * DICOM (a "DICM" marker, a File Meta Information, or a dataset that names its SOP class and
   * instance), but not an instance the gateway can take: no SOP Instance UID, no study or series,
   * cut short. Callers report it as a DICOM file they could not process, never as "not DICOM".
   */
  | { readonly kind: 'invalid'; readonly reason: string }
  | { readonly kind: 'not-dicom'; readonly reason: string };

/** Head size callers read: the File Meta Information and the SOP UIDs fit in it in practice. */
export const SNIFF_BYTES = 64 * 1024;

/** Media Storage Directory Storage: the SOP class of a DICOMDIR. */
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';
/** The VRs of PS3.5 §6.2: two bytes that are one of these make an explicit-VR header plausible. */
const VRS = new Set([
  'AE',
  'AS',
  'AT',
  'CS',
  'DA',
  'DS',
  'DT',
  'FD',
  'FL',
  'IS',
  'LO',
  'LT',
  'OB',
  'OD',
  'OF',
  'OL',
  'OV',
  'OW',
  'PN',
  'SH',
  'SL',
  'SQ',
  'SS',
  'ST',
  'SV',
  'TM',
  'UC',
  'UI',
  'UL',
  'UN',
  'UR',
  'US',
  'UT',
  'UV',
]);
/** A bare dataset starts with group 0008 (SOP Common, identification) or, lacking it, up to 0010 (patient). */
const FIRST_GROUP_MIN = 0x0008;
const FIRST_GROUP_MAX = 0x0010;
const NOT_DICOM_BARE = 'not DICOM (no preamble, no recognisable dataset)';
const NO_INSTANCE_UID = 'DICOM file without SOP Instance UID';
const SOP_UIDS: readonly TagName[] = ['SOPClassUID', 'SOPInstanceUID'];
const BARE_UIDS: readonly TagName[] = ['SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID'];
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

/** Empty strings count as absent: some writers leave (0002,0002)/(0002,0003) present but empty. */
function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}

/** What classify finds: a Sniffed, and for a DICOMDIR also the syntax its records are written in. */
export type Classified =
  | Exclude<Sniffed, { kind: 'dicomdir' }>
  | { readonly kind: 'dicomdir'; readonly datasetOffset: number; readonly transferSyntaxUid: string };

/** The public view: the DICOMDIR's syntax is for dicomdir.ts, not the callers'. */
function publicView(c: Classified): Sniffed {
  return c.kind === 'dicomdir' ? { kind: 'dicomdir', datasetOffset: c.datasetOffset } : c;
}

/** Reading the file behind a head, when there is one (sniffFile) and the head is not enough. */
interface FileAccess {
  readonly path: string;
  /** The first `n` bytes of the file (fewer at its end). */
  readonly readStart: (n: number) => Promise<Buffer>;
}

/**
 * Reads `wanted` from the dataset at `offset`: from the head when it holds them, else from the
 * file. Null when they are not within the head and there is no file to read further.
 */
async function datasetUids(
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

/** The transfer syntax a bare dataset's first element suggests, or null when it is not plausibly DICOM. */
function bareSyntax(head: Buffer): string | null {
  const explicit = VRS.has(head.toString('latin1', 4, 6));
  const groupLe = head.readUInt16LE(0);
  if (groupLe >= FIRST_GROUP_MIN && groupLe <= FIRST_GROUP_MAX) {
    return explicit ? TS.ExplicitLE : TS.ImplicitLE;
  }
  // Implicit big endian does not exist (PS3.5 Annex A): a big-endian dataset always has VRs.
  const groupBe = head.readUInt16BE(0);
  if (explicit && groupBe >= FIRST_GROUP_MIN && groupBe <= FIRST_GROUP_MAX) {
    return TS.ExplicitBE;
  }
  return null;
}

/**
 * Bytes a bare dataset may be preceded by: some writers leave a stray byte or two before it
 * (pydicom's no_meta.dcm, CT_small without its File Meta, starts with one). Only a dataset that
 * then names its SOP class and instance counts, so other files are not mistaken for one.
 */
const MAX_STRAY_BYTES = 15;

/** A bare dataset at `offset`: the UIDs it names, or null when nothing there reads as one. */
async function bareAt(
  head: Buffer,
  whole: boolean,
  file: FileAccess | null,
  offset: number,
): Promise<{ ts: string; h: Partial<Record<TagName, string>> | null } | null> {
  const ts = bareSyntax(head.subarray(offset));
  if (!ts) {
    return null;
  }
  try {
    return { ts, h: await datasetUids(head, whole, file, offset, ts, BARE_UIDS) };
  } catch (err) {
    if (err instanceof HeaderError || err instanceof EndOfData) {
      return null;
    }
    throw err;
  }
}

/**
 * A dataset without preamble or meta: an instance when it yields the SOP, study and series UIDs;
 * DICOM we cannot take ('invalid') when it names its SOP class and instance but lacks the others.
 */
async function classifyBare(head: Buffer, whole: boolean, file: FileAccess | null): Promise<Classified> {
  let found: { ts: string; h: Partial<Record<TagName, string>> | null; offset: number } | null = null;
  for (let offset = 0; offset <= MAX_STRAY_BYTES && offset + 8 <= head.length && !found?.h?.SOPInstanceUID; offset++) {
    const at = await bareAt(head, whole, file, offset);
    if (at && (found === null || at.h?.SOPInstanceUID)) {
      found = { ...at, offset };
    }
  }
  if (!found) {
    return { kind: 'not-dicom', reason: NOT_DICOM_BARE };
  }
  const { ts, h, offset } = found;
  if (!h) {
    return {
      kind: 'not-dicom',
      reason: `${NOT_DICOM_BARE}: no SOP UIDs within the first ${String(head.length)} bytes`,
    };
  }
  const sopClassUid = nonEmpty(h.SOPClassUID);
  const sopInstanceUid = nonEmpty(h.SOPInstanceUID);
  if (!sopClassUid || !sopInstanceUid) {
    return { kind: 'not-dicom', reason: NOT_DICOM_BARE };
  }
  const missing = (['StudyInstanceUID', 'SeriesInstanceUID'] as const).filter((k) => !nonEmpty(h[k]));
  if (missing.length) {
    return { kind: 'invalid', reason: `DICOM dataset without ${missing.join(' or ')}` };
  }
  return { kind: 'bare', transferSyntaxUid: ts, sopClassUid, sopInstanceUid, datasetOffset: offset };
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
