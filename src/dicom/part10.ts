//! The Part 10 file header (preamble, "DICM", group 0002): writing ours, reading a file's.
// The network carries only the dataset; a file needs this header in front of the dataset
// bytes, which we then append unchanged (PS3.10 §7.1).
import { TS } from './transfer-syntax.ts';

/** Our implementation identity, written in (0002,0012)/(0002,0013) and sent in associations. */
// A UUID-derived UID (PS3.5 §B.2): needs no registered root.
export const IMPLEMENTATION_CLASS_UID = '2.25.37333367848152483821697765428941505847';
export const IMPLEMENTATION_VERSION = 'XNATGW_0_1';

export interface MetaFields {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** Calling AE of the sender, recorded as Source Application Entity Title (0002,0016). */
  readonly sourceAeTitle?: string;
}

function element(group: number, elem: number, vr: string, value: Buffer): Buffer {
  const long = vr === 'OB';
  const head = Buffer.alloc(long ? 12 : 8);
  head.writeUInt16LE(group, 0);
  head.writeUInt16LE(elem, 2);
  head.write(vr, 4, 'latin1');
  if (long) {
    head.writeUInt32LE(value.length, 8);
  } else {
    head.writeUInt16LE(value.length, 6);
  }
  return Buffer.concat([head, value]);
}

/** UI values are padded with NUL, other strings with a space, to even length. */
function text(value: string, pad: '\0' | ' '): Buffer {
  return Buffer.from(value.length % 2 ? value + pad : value, 'latin1');
}

/** Builds preamble + DICM + group 0002 (explicit VR little endian, with group length). */
export function buildPart10Header(m: MetaFields): Buffer {
  const parts = [
    element(0x0002, 0x0001, 'OB', Buffer.from([0x00, 0x01])),
    element(0x0002, 0x0002, 'UI', text(m.sopClassUid, '\0')),
    element(0x0002, 0x0003, 'UI', text(m.sopInstanceUid, '\0')),
    element(0x0002, 0x0010, 'UI', text(m.transferSyntaxUid, '\0')),
    element(0x0002, 0x0012, 'UI', text(IMPLEMENTATION_CLASS_UID, '\0')),
    element(0x0002, 0x0013, 'SH', text(IMPLEMENTATION_VERSION, ' ')),
  ];
  if (m.sourceAeTitle) {
    parts.push(element(0x0002, 0x0016, 'AE', text(m.sourceAeTitle, ' ')));
  }
  const body = Buffer.concat(parts);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  const groupLength = element(0x0002, 0x0000, 'UL', len);
  const preamble = Buffer.alloc(132);
  preamble.write('DICM', 128, 'latin1');
  return Buffer.concat([preamble, groupLength, body]);
}

export interface ParsedMeta {
  readonly transferSyntaxUid: string;
  readonly sopClassUid: string | undefined;
  readonly sopInstanceUid: string | undefined;
  /** Byte offset of the first dataset element after group 0002. */
  readonly datasetOffset: number;
}

/**
 * Reads the group 0002 of a Part 10 file from its first bytes (`head` must hold the whole meta
 * group; 64 KiB is plenty). Returns null when there is no "DICM" at byte 128.
 */
export function parsePart10Header(head: Buffer): ParsedMeta | null {
  if (head.length < 132 || head.toString('latin1', 128, 132) !== 'DICM') {
    return null;
  }
  let pos = 132;
  const values = new Map<number, string>();
  while (pos + 8 <= head.length && head.readUInt16LE(pos) === 0x0002) {
    const elem = head.readUInt16LE(pos + 2);
    const vr = head.toString('latin1', pos + 4, pos + 6);
    const long = ['OB', 'OW', 'OF', 'SQ', 'UN', 'UT', 'UC', 'UR', 'OD', 'OL', 'OV'].includes(vr);
    const len = long ? head.readUInt32LE(pos + 8) : head.readUInt16LE(pos + 6);
    const start = pos + (long ? 12 : 8);
    if (start + len > head.length) {
      return null;
    }
    if (vr === 'UI') {
      values.set(elem, head.toString('latin1', start, start + len).replace(/[\0 ]+$/, ''));
    }
    pos = start + len;
  }
  return {
    transferSyntaxUid: values.get(0x0010) ?? TS.ExplicitLE,
    sopClassUid: values.get(0x0002),
    sopInstanceUid: values.get(0x0003),
    datasetOffset: pos,
  };
}
