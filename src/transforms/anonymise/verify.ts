//! Fail-closed verification of a de-identified series before anything may be delivered.
// Re-reads every output file (it must parse), searches every element value at every depth —
// file meta and private elements included, pixel data excluded (never changed) — for the
// original identifying values, and checks that every instance UID in the output was produced by
// this project's UID function (now or in an earlier series, per the ledger).
import { readDicomFile } from '../../dicom/dataset-file.ts';
import { walkElements, type Element } from '../../dicom/dataset.ts';
import { parseDataset } from '../../dicom/dataset.ts';
import { PIXEL_DATA } from '../../dicom/elements.ts';
import { formatTag } from '../../dicom/dictionary.ts';
import { parsePart10Header } from '../../dicom/part10.ts';
import { textValues } from '../../dicom/values.ts';
import { open } from 'node:fs/promises';
import { isDefinitionTag, isRegisteredUid } from './uids.ts';
import { occursIn } from './needles.ts';

/** Pixel-like values: never rewritten by us, and binary noise that could contain any digit run. */
const PIXEL_TAGS = new Set([PIXEL_DATA, 0x7fe00008, 0x7fe00009]);
/** CodeValue, CodingSchemeDesignator, CodingSchemeVersion, ContextIdentifier, MappingResource, LongCodeValue, URNCodeValue. */
const CODED_TAGS = new Set([0x00080100, 0x00080102, 0x00080103, 0x0008010f, 0x00080105, 0x00080119, 0x00080120]);

export interface VerifyInput {
  readonly path: string;
  /** The original values this file (and its series) must no longer contain. */
  readonly needles: ReadonlySet<string>;
}

export interface FileCheck {
  /** Problems (no values: tags and kinds only, safe for logs and /series). */
  readonly problems: string[];
  /** UI values that are not registered, not definitions and not produced in this run. */
  readonly foreignUids: Set<string>;
}

async function readMetaAndDataset(path: string): Promise<{ meta: Element[]; dataset: Element[] }> {
  const fh = await open(path, 'r');
  let head: Buffer;
  try {
    head = Buffer.alloc(64 * 1024);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    head = head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
  const meta = parsePart10Header(head);
  if (!meta) {throw new Error('Output has no File Meta Information.');}
  const metaEls = parseDataset(head.subarray(132, meta.datasetOffset), { explicitVr: true, littleEndian: true, deflated: false }).elements;
  const file = await readDicomFile(path, meta);
  return { meta: metaEls, dataset: [...file.main.elements, ...(file.tail?.elements ?? [])] };
}

/** Checks one output file against its needles; `produced` holds the replacement UIDs of this run. */
export async function checkFile(input: VerifyInput, produced: ReadonlySet<string>): Promise<FileCheck> {
  const problems: string[] = [];
  const foreignUids = new Set<string>();
  let parsed;
  try {
    parsed = await readMetaAndDataset(input.path);
  } catch (err) {
    return { problems: [`output does not parse (${(err as Error).message})`], foreignUids };
  }
  const needles = [...input.needles];
  const check = (el: Element): void => {
    if (PIXEL_TAGS.has(el.tag) || !el.value || el.value.length === 0) {return;}
    const text = el.value.toString('latin1');
    // Code values come from controlled vocabularies ("TEST", "DCM", "99ACME"): a name that happens
    // to spell one is not a leak there.
    const coded = CODED_TAGS.has(el.tag);
    if (needles.some((n) => !(coded && n.startsWith('text:')) && occursIn(text, n))) {
      problems.push(`an original identifying value is still present in ${formatTag(el.tag)}`);
    }
    if (el.vr === 'UI' && !isDefinitionTag(el.tag)) {
      for (const u of textValues(el)) {
        if (u && !isRegisteredUid(u) && !produced.has(u)) {foreignUids.add(u);}
      }
    }
  };
  walkElements(parsed.meta, (el) => { check(el); });
  walkElements(parsed.dataset, (el) => { check(el); });
  return { problems, foreignUids };
}
