//! Recognises a bare dataset (no preamble, no File Meta Information) by its first element and the UIDs it names.
// Such files come from old modalities and scripts that write the dataset alone; only one that names
// its SOP class and instance is taken for DICOM, so other files are not mistaken for one.
import { EndOfData } from './byte-source.ts';
import { HeaderError } from './elements.ts';
import type { TagName } from './read.ts';
import { datasetUids, nonEmpty, type FileAccess } from './sniff-uids.ts';
import type { Classified } from './sniffed.ts';
import { TS } from './transfer-syntax.ts';

/** The VRs of PS3.5 §6.2: two bytes that are one of these make an explicit-VR header plausible. */
export const VRS = new Set([
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
const BARE_UIDS: readonly TagName[] = ['SOPClassUID', 'SOPInstanceUID', 'StudyInstanceUID', 'SeriesInstanceUID'];

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
export async function classifyBare(head: Buffer, whole: boolean, file: FileAccess | null): Promise<Classified> {
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
