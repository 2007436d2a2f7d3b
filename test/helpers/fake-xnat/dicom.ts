//! DICOM header reading for the fake XNAT, with dcmjs (independent of the gateway's own reader).
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Readable } from 'node:stream';

interface DcmElement {
  readonly Value?: readonly unknown[];
  /** The text as stored (dcmjs keeps it for text VRs): it turns IS into numbers, XNAT keeps the text. */
  readonly _rawValue?: readonly unknown[];
}
interface Dcmjs {
  readonly log: { setLevel(level: string): void };
  readonly data: {
    readonly DicomMessage: {
      readFile(b: ArrayBuffer, o: Record<string, unknown>): { dict: Record<string, DcmElement | undefined> };
    };
  };
}

// dcmjs ships no type declarations; the narrow interface above is all the fake uses.
const dcmjs = createRequire(import.meta.url)('dcmjs') as Dcmjs;
dcmjs.log.setLevel('error');

/** The attributes XNAT's importer and default identifier look at. */
export interface Header {
  readonly sopClassUid: string | null;
  readonly sopInstanceUid: string | null;
  readonly studyUid: string | null;
  readonly seriesUid: string | null;
  readonly seriesNumber: string | null;
  readonly seriesDescription: string | null;
  readonly modality: string | null;
  readonly patientName: string | null;
  readonly patientId: string | null;
  readonly patientComments: string | null;
  readonly studyComments: string | null;
  readonly additionalPatientHistory: string | null;
  readonly studyDescription: string | null;
  readonly accessionNumber: string | null;
}

/** A received object: its header, and what XNAT's catalog would record for the file. */
export interface DicomObject {
  readonly header: Header;
  readonly md5: string;
  readonly size: number;
  /** The file name within the session (upload name, or derived from the SOP Instance UID). */
  readonly name: string;
}

/** Headers longer than this are not read (a test double: real headers are a few KiB). */
export const HEAD_LIMIT = 16 * 1024 * 1024;

/** Reads a stream to the end: MD5 and size of everything, and the first `HEAD_LIMIT` bytes. */
export async function digest(stream: Readable): Promise<{ md5: string; size: number; head: Buffer }> {
  const hash = createHash('md5');
  const head: Buffer[] = [];
  let size = 0;
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    hash.update(chunk);
    if (size < HEAD_LIMIT) {
      head.push(chunk.subarray(0, HEAD_LIMIT - size));
    }
    size += chunk.length;
  }
  return { md5: hash.digest('hex'), size, head: Buffer.concat(head) };
}

function text(el: DcmElement | undefined): string | null {
  const first = el?.Value?.[0];
  if (first === undefined || first === null) {
    return null;
  }
  // dcmjs gives PN values as { Alphabetic, Ideographic, Phonetic }.
  const value =
    typeof first === 'object'
      ? (first as { Alphabetic?: string }).Alphabetic
      : typeof first === 'number'
        ? String(first)
        : typeof first === 'string'
          ? first
          : '';
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
}

function rawText(el: DcmElement | undefined): string | null {
  const first = el?._rawValue?.[0];
  const value = typeof first === 'string' ? first : typeof first === 'number' ? String(first) : null;
  const trimmed = value?.trim() ?? '';
  return trimmed === '' ? null : trimmed;
}

function elementBytes(group: number, elem: number, vr: string, value: Buffer): Buffer {
  const head = Buffer.alloc(vr === 'OB' ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (vr === 'OB') {
    head.writeUInt32LE(value.length, 8);
  } else {
    head.writeUInt16LE(value.length, 6);
  }
  return Buffer.concat([head, value]);
}

const ui = (s: string): Buffer => Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');

/** Wraps a bare dataset in a Part-10 preamble and File Meta Information (as XNAT stores what it receives). */
export function toPart10(dataset: Buffer, ts: string, sopClassUid = '', sopInstanceUid = ''): Buffer {
  const body = Buffer.concat([
    elementBytes(2, 0x0001, 'OB', Buffer.from([0, 1])),
    elementBytes(2, 0x0002, 'UI', ui(sopClassUid)),
    elementBytes(2, 0x0003, 'UI', ui(sopInstanceUid)),
    elementBytes(2, 0x0010, 'UI', ui(ts)),
    elementBytes(2, 0x0012, 'UI', ui('1.2.826.0.1.3680043.10.1453.1')),
  ]);
  const length = Buffer.alloc(4);
  length.writeUInt32LE(body.length);
  return Buffer.concat([
    Buffer.alloc(128),
    Buffer.from('DICM', 'latin1'),
    elementBytes(2, 0, 'UL', length),
    body,
    dataset,
  ]);
}

/**
 * dcm4che also reads datasets without a preamble; we accept one when it starts with a group
 * 0002/0008 tag (explicit VR when bytes 4–5 look like a VR, else implicit VR little endian).
 */
function asPart10(head: Buffer): Buffer | null {
  if (head.length >= 132 && head.toString('latin1', 128, 132) === 'DICM') {
    return head;
  }
  if (head.length < 8 || head[1] !== 0 || (head[0] !== 0x08 && head[0] !== 0x02)) {
    return null;
  }
  const explicit = /^[A-Z]{2}$/.test(head.toString('latin1', 4, 6));
  return toPart10(head, explicit ? '1.2.840.10008.1.2.1' : '1.2.840.10008.1.2');
}

/** Parses the header of a Part-10 object (or bare dataset); null when it is not DICOM. */
export function readHeader(head: Buffer): Header | null {
  const file = asPart10(head);
  if (!file) {
    return null;
  }
  let dict: Record<string, DcmElement | undefined>;
  try {
    const ab = file.buffer.slice(file.byteOffset, file.byteOffset + file.length) as ArrayBuffer;
    dict = dcmjs.data.DicomMessage.readFile(ab, { untilTag: '7FE00010', includeUntilTagValue: false }).dict;
  } catch {
    // Not parsable: the importer reports "unable to read DICOM object".
    return null;
  }
  const get = (tag: string): string | null => text(dict[tag]);
  return {
    sopClassUid: get('00080016'),
    sopInstanceUid: get('00080018'),
    studyUid: get('0020000D'),
    seriesUid: get('0020000E'),
    // As dcm4che reads IS for XNAT's session builder: the stored text, trimmed (`007` stays `007`).
    seriesNumber: rawText(dict['00200011']),
    seriesDescription: get('0008103E'),
    modality: get('00080060'),
    patientName: get('00100010'),
    patientId: get('00100020'),
    patientComments: get('00104000'),
    studyComments: get('00324000'),
    additionalPatientHistory: get('001021B0'),
    studyDescription: get('00081030'),
    accessionNumber: get('00080050'),
  };
}
