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
