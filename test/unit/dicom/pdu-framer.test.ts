//! The PDU framer: reassembly however a stream is cut, refusal from the header, no quadratic buffering.
import { describe, expect, it } from 'vitest';
import { createPduFramer, createPduReader } from '../../../src/dicom/pdu-framer.ts';
import { encodeAbort, encodeReleaseRp, PduError } from '../../../src/dicom/pdu.ts';

/** Hex (spaces ignored). */
const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** A PDU with the given type and a body of `length` bytes (the header claims `claimed`, default the real length). */
function pdu(type: number, length: number, claimed = length): Buffer {
  const b = Buffer.alloc(6 + length, 0x5a);
  b.writeUInt8(type, 0);
  b.writeUInt32BE(claimed, 2);
  return b;
}

describe('PDU framer', () => {
  it('reassembles PDUs split across chunks and splits PDUs sharing a chunk, at every chunk size', () => {
    const stream = Buffer.concat([
      pdu(0x04, 1000),
      encodeReleaseRp(),
      pdu(0x04, 16_384),
      encodeAbort(2, 6),
      pdu(0x04, 0),
    ]);
    for (const size of [1, 2, 3, 5, 6, 7, 13, 1000, 4096, stream.length]) {
      const seen: [number, number][] = [];
      const f = createPduFramer(
        () => null,
        (type, body) => seen.push([type, body.length]),
      );
      for (let off = 0; off < stream.length; off += size) {
        f.push(stream.subarray(off, off + size));
      }
      expect(seen, `chunk size ${String(size)}`).toEqual([
        [4, 1000],
        [6, 4],
        [4, 16_384],
        [7, 4],
        [4, 0],
      ]);
      expect(f.partial).toBe(false);
    }
  });

  it('offers a body that arrived in several chunks as the chunks, and joins it when they are not taken', () => {
    const stream = Buffer.concat([pdu(0x04, 1000), pdu(0x04, 300)]);
    const offered: number[][] = [];
    const joined: [number, number][] = [];
    let take = true;
    const f = createPduFramer(
      () => null,
      (type, body) => joined.push([type, body.length]),
      (type, parts, length) => {
        expect(Buffer.concat(parts).equals(stream.subarray(take ? 6 : 1012, take ? 1006 : 1312))).toBe(true);
        offered.push([type, length, parts.length]);
        const took = take;
        take = false;
        return took;
      },
    );
    for (let off = 0; off < stream.length; off += 400) {
      f.push(stream.subarray(off, off + 400));
    }
    expect(offered).toEqual([
      [4, 1000, 3],
      [4, 300, 2],
    ]);
    expect(joined).toEqual([[4, 300]]);
    expect(f.partial).toBe(false);
  });

  it('says a PDU is partly received from its first byte until its last', () => {
    const f = createPduFramer(
      () => null,
      () => undefined,
    );
    const p = pdu(0x04, 10);
    f.push(p.subarray(0, 1));
    expect(f.partial).toBe(true);
    f.push(p.subarray(1, 15));
    expect(f.partial).toBe(true);
    f.push(p.subarray(15));
    expect(f.partial).toBe(false);
  });

  it('refuses from the header alone, even when the header is split, before any body byte is kept', () => {
    const checked: [number, number][] = [];
    const f = createPduFramer(
      (type, length) => {
        checked.push([type, length]);
        return length > 100 ? new PduError(`too long: ${String(length)}`, 6) : null;
      },
      () => undefined,
    );
    f.push(hex('04 00 0000'));
    expect(() => {
      f.push(hex('0401'));
    }).toThrow(/too long: 1025/);
    expect(checked).toEqual([[4, 1025]]);
  });

  it('hands over the body as a view when it arrives in one chunk', () => {
    const chunk = pdu(0x04, 64);
    const bodies: Buffer[] = [];
    createPduFramer(
      () => null,
      (_t, b) => bodies.push(b),
    ).push(chunk);
    expect(bodies[0]?.buffer).toBe(chunk.buffer);
  });

  it('ignores input once closed', () => {
    const seen: number[] = [];
    const f = createPduFramer(
      () => null,
      (t) => seen.push(t),
    );
    f.push(pdu(0x05, 4));
    f.close();
    f.push(pdu(0x05, 4));
    expect(seen).toEqual([5]);
  });

  it('joins a 16 MiB PDU fed in 1 KiB chunks in linear time', () => {
    const big = pdu(0x04, 16 * 1024 * 1024);
    let got = 0;
    const f = createPduFramer(
      () => null,
      (_t, b) => (got = b.length),
    );
    const t0 = process.hrtime.bigint();
    for (let off = 0; off < big.length; off += 1024) {
      f.push(big.subarray(off, off + 1024));
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    expect(got).toBe(16 * 1024 * 1024);
    // Joining on every chunk (the library's way) copies ~128 GB here and takes minutes.
    expect(ms).toBeLessThan(5000);
  });
});

describe('PDU reader (requestor)', () => {
  it('reassembles PDUs split across chunks and splits PDUs sharing a chunk', () => {
    const seen: [number, string][] = [];
    const read = createPduReader(1024, (type, body) => seen.push([type, body.toString('hex')]));
    const stream = Buffer.concat([encodeReleaseRp(), encodeAbort(2, 6), hex('04 00 00000003 aabbcc')]);
    for (let i = 0; i < stream.length; i += 5) {
      read(stream.subarray(i, i + 5));
    }
    expect(seen).toEqual([
      [6, '00000000'],
      [7, '00000206'],
      [4, 'aabbcc'],
    ]);
  });

  it('refuses a P-DATA-TF longer than our maximum before buffering its body', () => {
    const read = createPduReader(1024, () => undefined);
    expect(() => {
      read(hex('04 00 00000401'));
    }).toThrow(/exceeds our limit of 1024/);
    const control = createPduReader(1024, () => undefined);
    expect(() => {
      control(hex('02 00 00000401'));
    }).not.toThrow();
  });
});
