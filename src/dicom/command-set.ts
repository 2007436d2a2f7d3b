//! Encoding DIMSE command-set elements (group 0000, Implicit VR Little Endian, PS3.7 §6.3.1), for our SCP's responses and our SCU's requests.

/** One group-0000 element: tag, 32-bit length, value. */
export function commandElement(elem: number, value: Buffer): Buffer {
  const h = Buffer.allocUnsafe(8);
  h.writeUInt16LE(0x0000, 0);
  h.writeUInt16LE(elem, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
}

/** A US value. */
export function us(n: number): Buffer {
  const b = Buffer.allocUnsafe(2);
  b.writeUInt16LE(n, 0);
  return b;
}

/** A UI value, NUL-padded to even length (PS3.5 §9.1). */
export function ui(s: string): Buffer {
  return Buffer.from(s.length % 2 ? `${s}\0` : s, 'latin1');
}

/** A text value (LO/ST), space-padded to even length. */
export function commandText(s: string): Buffer {
  return Buffer.from(s.length % 2 ? `${s} ` : s, 'latin1');
}

/** Prefixes (0000,0000) CommandGroupLength; `elements` must already be in ascending tag order. */
export function withGroupLength(elements: readonly Buffer[]): Buffer {
  const body = Buffer.concat(elements);
  const len = Buffer.allocUnsafe(4);
  len.writeUInt32LE(body.length, 0);
  return Buffer.concat([commandElement(0x0000, len), body]);
}

/** CommandField values (PS3.7 §E.1); a response is its request's value with bit 15 set. */
export const CommandField = {
  CStoreRq: 0x0001,
  CStoreRsp: 0x8001,
  CEchoRq: 0x0030,
  CEchoRsp: 0x8030,
  CCancelRq: 0x0fff,
  CGetRq: 0x0010,
  CGetRsp: 0x8010,
  CFindRq: 0x0020,
  CFindRsp: 0x8020,
  CMoveRq: 0x0021,
  CMoveRsp: 0x8021,
} as const;

/** Bit 15 of CommandField: set on every response. */
export const RESPONSE_BIT = 0x8000;

/** CommandDataSetType: 0x0101 means "no dataset follows"; anything else means one does. */
export const NO_DATASET = 0x0101;

/** Group-0000 element numbers the gateway reads or writes (PS3.7 §E.1). */
export const Tag = {
  AffectedSopClass: 0x0002,
  CommandField: 0x0100,
  MessageId: 0x0110,
  RespondedTo: 0x0120,
  MoveDestination: 0x0600,
  Priority: 0x0700,
  DatasetType: 0x0800,
  Status: 0x0900,
  OffendingElement: 0x0901,
  ErrorComment: 0x0902,
  AffectedSopInstance: 0x1000,
  RemainingSubOperations: 0x1020,
  CompletedSubOperations: 0x1021,
  FailedSubOperations: 0x1022,
  WarningSubOperations: 0x1023,
  MoveOriginatorAe: 0x1030,
  MoveOriginatorMessageId: 0x1031,
} as const;

export class CommandError extends Error {
  override readonly name = 'CommandError';
}

/**
 * Reads a command set (implicit VR LE, group 0000 only) into element number → value. An element of
 * another group is an error, unless `otherGroup` takes it: Orthanc 1.10 writes (0008,0058) Failed
 * SOP Instance UID List into the command set of C-GET responses, and an SCU must still read them.
 */
export function readCommand(b: Buffer, otherGroup?: (tag: number, value: Buffer) => void): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let pos = 0;
  while (pos < b.length) {
    if (pos + 8 > b.length) {
      throw new CommandError('Command set ends inside an element header.');
    }
    const group = b.readUInt16LE(pos);
    const elem = b.readUInt16LE(pos + 2);
    const len = b.readUInt32LE(pos + 4);
    if (pos + 8 + len > b.length) {
      throw new CommandError('Command set ends inside an element value.');
    }
    if (group !== 0x0000) {
      if (!otherGroup) {
        throw new CommandError(`Command set holds an element of group ${group.toString(16).padStart(4, '0')}.`);
      }
      otherGroup(((group << 16) | elem) >>> 0, b.subarray(pos + 8, pos + 8 + len));
      pos += 8 + len;
      continue;
    }
    if (out.has(elem)) {
      throw new CommandError(`Command set repeats element (0000,${elem.toString(16).padStart(4, '0')}).`);
    }
    out.set(elem, b.subarray(pos + 8, pos + 8 + len));
    pos += 8 + len;
  }
  return out;
}

/** A US value of a read command set, or null when absent or not 2 bytes. */
export function commandU16(m: ReadonlyMap<number, Buffer>, elem: number): number | null {
  const v = m.get(elem);
  return v?.length === 2 ? v.readUInt16LE(0) : null;
}

/** A UI or text value of a read command set, padding removed, or null when absent. */
export function commandString(m: ReadonlyMap<number, Buffer>, elem: number): string | null {
  const v = m.get(elem);
  return v === undefined ? null : v.toString('latin1').replace(/[\0 ]+$/, '');
}
