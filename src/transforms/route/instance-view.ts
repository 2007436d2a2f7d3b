//! One instance's header as the routing rules see it, and what an RT object refers to.
// Only the header (everything before the top-level pixel data) is read: a 1 GB enhanced
// multi-frame file costs a few reads of its first bytes, grown ×4 until the parser reaches the
// pixel data. Deflated datasets are inflated as a stream and stop being inflated at that point.
import { open, type FileHandle } from 'node:fs/promises';
import type { Element, ParsedDataset } from '../../dicom/dataset.ts';
import { vrOf } from '../../dicom/dictionary.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { deflatedHead, MAX_HEADER_BYTES, parseHead, plainHead, type HeadSource } from '../../dicom/dataset-head.ts';
import { parsePart10Header } from '../../dicom/part10.ts';
import { isAcceptedAbstractSyntax, VERIFICATION_SOP_CLASS } from '../../dicom/sop-class.ts';
import { sniffFile } from '../../dicom/sniff.ts';
import { encodingOf } from '../../dicom/transfer-syntax.ts';
import { TEXT_VRS, textValues } from '../../dicom/values.ts';
import type { InstanceView, RtReferences } from './types.ts';

const SOP_CLASS_UID = 0x00080016;
const SOP_INSTANCE_UID = 0x00080018;
const MODALITY = 0x00080060;
const STUDY_INSTANCE_UID = 0x0020000d;
const SERIES_INSTANCE_UID = 0x0020000e;
const REFERENCED_SOP_CLASS_UID = 0x00081150;
const REFERENCED_SOP_INSTANCE_UID = 0x00081155;
/** RTReferencedSeriesSequence and ReferencedSeriesSequence: their items name a series. */
const SERIES_SEQUENCES = new Set([0x30060014, 0x00081115]);
/**
 * Sequences whose items reference a study, patient, visit or procedure step, not an instance the
 * router could wait for (RTReferencedStudySequence items hold a Study Component Management UID).
 */
const NOT_INSTANCE_SEQUENCES = new Set([0x00081110, 0x30060012, 0x00081120, 0x00081125, 0x00081111]);
const RT_MODALITIES = new Set(['RTSTRUCT', 'RTPLAN', 'RTDOSE']);
const RT_BY_SOP_CLASS = new Map([
  ['1.2.840.10008.5.1.4.1.1.481.2', 'RTDOSE'],
  ['1.2.840.10008.5.1.4.1.1.481.3', 'RTSTRUCT'],
  ['1.2.840.10008.5.1.4.1.1.481.5', 'RTPLAN'],
  ['1.2.840.10008.5.1.4.1.1.481.8', 'RTPLAN'],
]);
const NUMBER_SIZES: Readonly<Record<string, number>> = { US: 2, SS: 2, UL: 4, SL: 4, FL: 4, FD: 8, SV: 8, UV: 8 };

/** One instance's header, read for routing. UIDs and modality are '' when absent. */
export interface ReadInstance {
  readonly view: InstanceView;
  /** What the instance refers to, for RTSTRUCT, RTPLAN and RTDOSE; null for every other instance. */
  readonly rt: RtReferences | null;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly modality: string;
}

/** Where the dataset starts in the file and how it is encoded (from sniffFile or the spool). */
export interface DatasetLocation {
  readonly datasetOffset: number;
  readonly transferSyntaxUid: string;
}

/** The SOP Class UID of the File Meta Information (also of a meta written without preamble), or ''. */
async function metaSopClass(fh: FileHandle, datasetOffset: number): Promise<string> {
  if (datasetOffset <= 0 || datasetOffset > MAX_HEADER_BYTES) {
    return '';
  }
  const head = Buffer.alloc(datasetOffset);
  await fh.read(head, 0, datasetOffset, 0);
  const preamble = head.length >= 132 && head.toString('latin1', 128, 132) === 'DICM';
  const part10 = preamble ? head : Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), head]);
  return parsePart10Header(part10)?.sopClassUid ?? '';
}

/** Shortest decimal that reads back as the same 32-bit float (0.1f → "0.1", not "0.10000000149"). */
function float32Text(x: number): string {
  if (!Number.isFinite(x)) {
    return String(x);
  }
  for (let p = 1; p < 9; p++) {
    const s = Number(x.toPrecision(p));
    if (Math.fround(s) === x) {
      return String(s);
    }
  }
  return String(Number(x.toPrecision(9)));
}

function numbers(b: Buffer, vr: string, le: boolean): string[] {
  const size = NUMBER_SIZES[vr] ?? 0;
  const out: string[] = [];
  for (let at = 0; size > 0 && at + size <= b.length; at += size) {
    switch (vr) {
      case 'US':
        out.push(String(le ? b.readUInt16LE(at) : b.readUInt16BE(at)));
        break;
      case 'SS':
        out.push(String(le ? b.readInt16LE(at) : b.readInt16BE(at)));
        break;
      case 'UL':
        out.push(String(le ? b.readUInt32LE(at) : b.readUInt32BE(at)));
        break;
      case 'SL':
        out.push(String(le ? b.readInt32LE(at) : b.readInt32BE(at)));
        break;
      case 'FL':
        out.push(float32Text(le ? b.readFloatLE(at) : b.readFloatBE(at)));
        break;
      case 'FD':
        out.push(String(le ? b.readDoubleLE(at) : b.readDoubleBE(at)));
        break;
      case 'SV':
        out.push(String(le ? b.readBigInt64LE(at) : b.readBigInt64BE(at)));
        break;
      default:
        out.push(String(le ? b.readBigUInt64LE(at) : b.readBigUInt64BE(at)));
    }
  }
  return out;
}

/** An element's values as the rules compare them (see InstanceView.values). */
function elementValues(el: Element, littleEndian: boolean): string[] {
  if (el.items || !el.value) {
    return [];
  }
  let vr = el.vr;
  // A public attribute relayed as UN by a node that did not know it: read it with its dictionary VR.
  if (vr === 'UN') {
    const known = vrOf(el.tag);
    if (known !== 'UN' && known !== 'SQ') {
      vr = known;
    }
  }
  if (TEXT_VRS.has(vr)) {
    return textValues(el);
  }
  return vr in NUMBER_SIZES ? numbers(el.value, vr, littleEndian) : [];
}

function firstText(elements: readonly Element[], tag: number): string {
  const el = elements.find((e) => e.tag === tag);
  return el?.value && !el.items ? (textValues(el)[0] ?? '') : '';
}

/** RTSTRUCT, RTPLAN or RTDOSE by Modality, else by SOP Class; null for anything else. */
function rtModality(modality: string, sopClassUid: string): string | null {
  if (RT_MODALITIES.has(modality)) {
    return modality;
  }
  return RT_BY_SOP_CLASS.get(sopClassUid) ?? null;
}

/** A ReferencedSOPInstanceUID names a stored instance unless its class says otherwise (study, MPPS, …). */
function refersToInstance(parentSequence: number, items: readonly Element[]): boolean {
  if (NOT_INSTANCE_SEQUENCES.has(parentSequence)) {
    return false;
  }
  const cls = firstText(items, REFERENCED_SOP_CLASS_UID);
  return cls === '' || (cls !== VERIFICATION_SOP_CLASS && isAcceptedAbstractSyntax(cls));
}

function collectReferences(
  elements: readonly Element[],
  parentSequence: number | null,
  series: Set<string>,
  sops: Set<string>,
): void {
  const instanceItem = parentSequence !== null && refersToInstance(parentSequence, elements);
  for (const el of elements) {
    if (el.items) {
      for (const item of el.items) {
        collectReferences(item.elements, el.tag, series, sops);
      }
      continue;
    }
    if (parentSequence === null || !el.value) {
      continue;
    }
    if (el.tag === SERIES_INSTANCE_UID && SERIES_SEQUENCES.has(parentSequence)) {
      for (const v of textValues(el)) {
        if (v) {
          series.add(v);
        }
      }
    } else if (el.tag === REFERENCED_SOP_INSTANCE_UID && instanceItem) {
      for (const v of textValues(el)) {
        if (v) {
          sops.add(v);
        }
      }
    }
  }
}

/** The references of an RT object at any depth, without its own SOP instance and series. */
function rtReferences(
  elements: readonly Element[],
  modality: string,
  own: { sopInstanceUid: string; seriesInstanceUid: string },
): RtReferences {
  const series = new Set<string>();
  const sops = new Set<string>();
  collectReferences(elements, null, series, sops);
  series.delete(own.seriesInstanceUid);
  sops.delete(own.sopInstanceUid);
  return { modality, seriesUids: [...series], sopInstanceUids: [...sops] };
}

function viewOf(ds: ParsedDataset, metaClass: string): InstanceView {
  const byTag = new Map<number, Element>();
  for (const el of ds.elements) {
    if (!byTag.has(el.tag)) {
      byTag.set(el.tag, el);
    }
  }
  const memo = new Map<number, readonly string[]>();
  const values = (tag: number): readonly string[] | undefined => {
    const el = byTag.get(tag);
    if (!el) {
      return undefined;
    }
    let v = memo.get(tag);
    if (!v) {
      v = Object.freeze(elementValues(el, ds.encoding.littleEndian));
      memo.set(tag, v);
    }
    return v;
  };
  return { values, sopClassUid: values(SOP_CLASS_UID)?.[0] || metaClass };
}

/**
 * Reads the header of `path` (a spool file or any DICOM file) for the routing rules. Without `o`
 * the file is sniffed (Part 10, meta without preamble, bare dataset). Throws HeaderError when the
 * file is not DICOM or its header cannot be parsed; file system errors propagate.
 */
export async function readInstance(path: string, o?: DatasetLocation): Promise<ReadInstance> {
  let loc = o;
  if (!loc) {
    const s = await sniffFile(path);
    if (s.kind === 'not-dicom') {
      throw new HeaderError(`Not DICOM: ${s.reason}.`);
    }
    if (s.kind === 'invalid') {
      throw new HeaderError(`DICOM, but not usable: ${s.reason}.`);
    }
    if (s.kind === 'dicomdir') {
      throw new HeaderError('A DICOMDIR (media index), not an instance.');
    }
    loc = s;
  }
  const enc = encodingOf(loc.transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${loc.transferSyntaxUid}.`);
  }
  const fh = await open(path, 'r');
  let src: HeadSource | null = null;
  try {
    src = enc.deflated
      ? deflatedHead(path, loc.datasetOffset)
      : plainHead(fh, loc.datasetOffset, (await fh.stat()).size);
    const ds = await parseHead(src, enc);
    if (ds.elements.length === 0) {
      throw new HeaderError('Empty dataset.');
    }
    const hasClass = ds.elements.some((e) => e.tag === SOP_CLASS_UID && (e.value?.length ?? 0) > 0);
    const view = viewOf(ds, hasClass ? '' : await metaSopClass(fh, loc.datasetOffset));
    const own = {
      studyInstanceUid: view.values(STUDY_INSTANCE_UID)?.[0] ?? '',
      seriesInstanceUid: view.values(SERIES_INSTANCE_UID)?.[0] ?? '',
      sopInstanceUid: view.values(SOP_INSTANCE_UID)?.[0] ?? '',
      modality: view.values(MODALITY)?.[0] ?? '',
    };
    const rt = rtModality(own.modality.toUpperCase(), view.sopClassUid);
    return { view, ...own, rt: rt === null ? null : rtReferences(ds.elements, rt, own) };
  } finally {
    src?.close();
    await fh.close();
  }
}
