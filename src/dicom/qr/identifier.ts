//! Query identifiers (the datasets of C-FIND, C-MOVE and C-GET requests and C-FIND responses), by keyword.
// An identifier is a flat dataset of a few text elements: keys with values are matched, empty keys
// ask the SCP to return them (PS3.4 C.2.2.1). We write them ourselves (tags ascending, even
// lengths) and read answers with the dataset parser the anonymiser uses, so an answer in any
// negotiated encoding and character set comes back as plain text.
import { charsetOf } from '../specific-character-set.ts';
import { parseDataset } from '../dataset.ts';
import { keywordOf, tagOfKeyword, vrOf } from '../dictionary.ts';
import { HeaderError } from '../elements.ts';
import { TS, encodingOf } from '../transfer-syntax.ts';
import { FREE_TEXT_VRS, TEXT_VRS } from '../values.ts';

/** Keyword → value; '' asks for the key to be returned. */
export type Identifier = Readonly<Record<string, string>>;

const SPECIFIC_CHARACTER_SET = 0x00080005;

export class IdentifierError extends Error {
  override readonly name = 'IdentifierError';
}

function tagOf(keyword: string): number {
  const tag = tagOfKeyword(keyword);
  if (tag === undefined) {
    throw new IdentifierError(`Unknown DICOM keyword ${keyword}.`);
  }
  const vr = vrOf(tag);
  if (!TEXT_VRS.has(vr)) {
    throw new IdentifierError(`Key ${keyword} has VR ${vr}; only text keys can be queried.`);
  }
  return tag;
}

const ASCII_PRINTABLE = /^[\x20-\x7e]*$/;

/**
 * Encodes an identifier in `transferSyntaxUid` (Implicit or Explicit VR Little Endian). Values with
 * characters beyond ASCII are sent as UTF-8 under SpecificCharacterSet ISO_IR 192.
 */
export function encodeIdentifier(id: Identifier, transferSyntaxUid: string): Buffer {
  const explicit = transferSyntaxUid === TS.ExplicitLE;
  if (!explicit && transferSyntaxUid !== TS.ImplicitLE) {
    throw new IdentifierError(`Identifiers are not written in transfer syntax ${transferSyntaxUid}.`);
  }
  const entries = Object.entries(id).map(([k, v]) => ({ tag: tagOf(k), value: v }));
  const utf8 = entries.some((e) => !ASCII_PRINTABLE.test(e.value));
  if (utf8 && !entries.some((e) => e.tag === SPECIFIC_CHARACTER_SET)) {
    entries.push({ tag: SPECIFIC_CHARACTER_SET, value: 'ISO_IR 192' });
  }
  entries.sort((a, b) => a.tag - b.tag);
  const parts: Buffer[] = [];
  for (const e of entries) {
    const vr = vrOf(e.tag);
    let value = Buffer.from(e.value, utf8 && FREE_TEXT_VRS.has(vr) ? 'utf8' : 'latin1');
    if (value.length % 2) {
      value = Buffer.concat([value, Buffer.from(vr === 'UI' ? [0] : [0x20])]);
    }
    const long = explicit && (vr === 'UC' || vr === 'UR' || vr === 'UT');
    const h = Buffer.alloc(explicit ? (long ? 12 : 8) : 8);
    h.writeUInt16LE(e.tag >>> 16, 0);
    h.writeUInt16LE(e.tag & 0xffff, 2);
    if (!explicit) {
      h.writeUInt32LE(value.length, 4);
    } else {
      h.write(vr, 4, 'latin1');
      if (long) {
        h.writeUInt32LE(value.length, 8);
      } else {
        if (value.length > 0xffff) {
          throw new IdentifierError(`Value of ${keywordOf(e.tag) ?? 'a key'} is too long.`);
        }
        h.writeUInt16LE(value.length, 6);
      }
    }
    parts.push(h, value);
  }
  return Buffer.concat(parts);
}

/**
 * Reads an identifier: every top-level text element by keyword, padding removed, multiple values
 * joined by '\'. Sequences, binary and private elements are skipped. Throws IdentifierError for a
 * dataset that cannot be parsed.
 */
export function decodeIdentifier(bytes: Buffer, transferSyntaxUid: string): Record<string, string> {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc || enc.deflated) {
    throw new IdentifierError(`Cannot read an identifier in transfer syntax ${transferSyntaxUid}.`);
  }
  let elements;
  try {
    elements = parseDataset(bytes, enc).elements;
  } catch (err) {
    if (err instanceof HeaderError) {
      throw new IdentifierError(`Unreadable identifier: ${err.message}`);
    }
    throw err;
  }
  const cs = elements.find((e) => e.tag === SPECIFIC_CHARACTER_SET);
  const charset = charsetOf(
    cs?.value
      ? cs.value
          .toString('latin1')
          .replace(/[\0 ]+$/, '')
          .split('\\')
          .map((t) => t.trim())
      : [],
  );
  const out: Record<string, string> = {};
  for (const el of elements) {
    const keyword = keywordOf(el.tag);
    if (keyword === undefined || !el.value || !TEXT_VRS.has(el.vr)) {
      continue;
    }
    const text = FREE_TEXT_VRS.has(el.vr) ? charset.decode(el.value) : el.value.toString('latin1');
    out[keyword] = text
      .replace(/[\0 ]+$/, '')
      .split('\\')
      .map((v) => v.trim())
      .join('\\');
  }
  return out;
}
