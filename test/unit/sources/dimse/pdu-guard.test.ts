import { describe, expect, it } from 'vitest';
import { createPduGuard, MAX_ASSOCIATE_PDU_BYTES, type GuardState } from '../../../../src/sources/dimse/pdu-guard.ts';

/** A PDU with the given type and a body of `length` bytes (the header claims `claimed`, default the real length). */
function pdu(type: number, length: number, claimed = length): Buffer {
  const b = Buffer.alloc(6 + length, 0x5a);
  b.writeUInt8(type, 0);
  b.writeUInt8(0, 1);
  b.writeUInt32BE(claimed, 2);
  return b;
}

/** Just the 6-byte header of a PDU claiming `length` bytes. */
const header = (type: number, length: number): Buffer => pdu(type, 0, length);

function guardWith(state: { associated: boolean; maxPduBytes: number }): { inspect: (chunk: Buffer) => string | null; state: GuardState } {
  const g = createPduGuard(() => state);
  return { inspect: (c) => g.inspect(c), state };
}

/** Feeds `stream` in chunks of `size` bytes; returns the first violation. */
function feed(inspect: (c: Buffer) => string | null, stream: Buffer, size: number): string | null {
  for (let off = 0; off < stream.length; off += size) {
    const v = inspect(stream.subarray(off, off + size));
    if (v) {
      return v;
    }
  }
  return null;
}

describe('PDU guard', () => {
  const assocRq = pdu(0x01, 300);
  const pdata = (n: number): Buffer => pdu(0x04, n);

  it('accepts a normal exchange however the stream is split, including inside PDU headers', () => {
    const stream = Buffer.concat([pdata(1000), pdata(16_384), pdu(0x05, 4), pdata(10)]);
    for (const size of [1, 2, 3, 5, 6, 7, 13, 1000, stream.length]) {
      const g = guardWith({ associated: true, maxPduBytes: 16_384 });
      expect(feed(g.inspect, stream, size), `chunk size ${String(size)}`).toBeNull();
    }
  });

  it('finds an oversized P-DATA whose header is split across chunks', () => {
    const stream = Buffer.concat([pdata(100), header(0x04, 16_385)]);
    for (const size of [1, 3, 4, 7, 50, 103, stream.length]) {
      const g = guardWith({ associated: true, maxPduBytes: 16_384 });
      expect(feed(g.inspect, stream, size), `chunk size ${String(size)}`).toMatch(/P-DATA-TF of 16385 bytes exceeds the negotiated maximum 16384/);
    }
  });

  it('accepts a P-DATA of exactly the negotiated maximum', () => {
    const g = guardWith({ associated: true, maxPduBytes: 4096 });
    expect(g.inspect(pdata(4096))).toBeNull();
  });

  it('checks P-DATA against the maximum in force when its header arrives', () => {
    const state = { associated: true, maxPduBytes: 8192 };
    const g = guardWith(state);
    expect(g.inspect(pdata(8000))).toBeNull();
    state.maxPduBytes = 4096;
    expect(g.inspect(header(0x04, 8000))).toMatch(/exceeds the negotiated maximum 4096/);
  });

  it('refuses P-DATA before the association is accepted', () => {
    const g = guardWith({ associated: false, maxPduBytes: 16_384 });
    expect(g.inspect(pdata(10))).toMatch(/PDU type 0x04 before association/);
  });

  it('accepts an A-ASSOCIATE-RQ, then P-DATA once associated', () => {
    const state = { associated: false, maxPduBytes: 16_384 };
    const g = guardWith(state);
    expect(feed(g.inspect, assocRq, 7)).toBeNull();
    state.associated = true;
    expect(g.inspect(pdata(100))).toBeNull();
  });

  it('refuses an A-ASSOCIATE-RQ claiming more than 1 MiB, from its header alone', () => {
    const g = guardWith({ associated: false, maxPduBytes: 16_384 });
    expect(g.inspect(header(0x01, MAX_ASSOCIATE_PDU_BYTES))).toBeNull();
    const g2 = guardWith({ associated: false, maxPduBytes: 16_384 });
    expect(g2.inspect(header(0x01, 0xffffffff))).toMatch(/A-ASSOCIATE-RQ of 4294967295 bytes exceeds 1048576/);
  });

  it('accepts small A-RELEASE-RQ and A-ABORT before association, refuses large ones', () => {
    expect(guardWith({ associated: false, maxPduBytes: 16_384 }).inspect(pdu(0x05, 4))).toBeNull();
    expect(guardWith({ associated: false, maxPduBytes: 16_384 }).inspect(pdu(0x07, 4))).toBeNull();
    expect(guardWith({ associated: false, maxPduBytes: 16_384 }).inspect(header(0x07, 65))).toMatch(/control PDU of 65 bytes/);
  });

  it('accepts release and abort PDUs on an association, refuses oversized ones', () => {
    for (const type of [0x05, 0x06, 0x07]) {
      expect(guardWith({ associated: true, maxPduBytes: 16_384 }).inspect(pdu(type, 4))).toBeNull();
      expect(guardWith({ associated: true, maxPduBytes: 16_384 }).inspect(header(type, 1_000_000))).toMatch(/control PDU/);
    }
  });

  const hex = (types: number[]): [string, number][] => types.map((t) => [t.toString(16).padStart(2, '0'), t]);

  it.each(hex([0x00, 0x02, 0x03, 0x08, 0x09, 0xff]))('refuses PDU type 0x%s on an established association', (_hex, type) => {
    const g = guardWith({ associated: true, maxPduBytes: 16_384 });
    expect(g.inspect(pdu(type, 4))).toMatch(new RegExp(`unexpected PDU type 0x${type.toString(16).padStart(2, '0')}`));
  });

  it.each(hex([0x00, 0x02, 0x03, 0x06, 0x08, 0xff]))('refuses PDU type 0x%s before association', (_hex, type) => {
    const g = guardWith({ associated: false, maxPduBytes: 16_384 });
    expect(g.inspect(pdu(type, 4))).toMatch(/before association/);
  });

  it('does not mistake bytes inside a PDU body for a header', () => {
    // A P-DATA body full of bytes that would read as an oversized unknown PDU.
    const body = Buffer.alloc(600, 0xff);
    const p = Buffer.concat([header(0x04, body.length), body, pdata(8)]);
    expect(feed(guardWith({ associated: true, maxPduBytes: 16_384 }).inspect, p, 11)).toBeNull();
  });

  it('finds a violation in a chunk that also holds a complete valid PDU before it', () => {
    const g = guardWith({ associated: true, maxPduBytes: 1024 });
    expect(g.inspect(Buffer.concat([pdata(100), header(0x09, 0)]))).toMatch(/unexpected PDU type 0x09/);
  });
});
