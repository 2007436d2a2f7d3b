//! Protocol fuzz cases for datasets: real instances cut at every element boundary, wrong lengths, deep nesting, trailing garbage.
// Every case is classified by construction: "refuse" cases are malformed whatever the bytes
// (a length that runs past its container, a container never closed, nesting deeper than any
// reader follows, a tag lower than the one before), so a Success for one of them is a bug;
// "success" cases are whole instances (controls); "any" cases are well-formed prefixes.
import { parseDataset, walkElements, type Element, type Item } from '../../../src/dicom/dataset.ts';
import { requiresPixelData } from '../../../src/dicom/sop-class.ts';
import { encodingOf, type DatasetEncoding } from '../../../src/dicom/transfer-syntax.ts';
import type { Rng } from './rng.ts';

export type Expect = 'refuse' | 'success' | 'any';

export interface StoreCase {
  readonly cls: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  readonly sopInstanceUid: string;
  readonly dataset: Buffer;
  readonly expect: Expect;
}

/** A whole, valid instance to mutate: its dataset bytes and where its SOP Instance UID value is. */
export interface Base {
  readonly name: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: string;
  readonly dataset: Buffer;
  readonly enc: DatasetEncoding;
  readonly uidAt: number;
  readonly uidLength: number;
  readonly elements: readonly Element[];
}

export function makeBase(name: string, dataset: Buffer, sopClassUid: string, transferSyntaxUid: string): Base {
  const enc = encodingOf(transferSyntaxUid);
  if (!enc || enc.deflated) {
    throw new Error(`${name}: unsupported syntax ${transferSyntaxUid}`);
  }
  const { elements } = parseDataset(dataset, enc);
  const sop = elements.find((e) => e.tag === 0x00080018);
  if (!sop?.value || sop.value.length < 12) {
    throw new Error(`${name}: no usable SOP Instance UID`);
  }
  return {
    name,
    sopClassUid,
    transferSyntaxUid,
    dataset,
    enc,
    uidAt: sop.end - sop.value.length,
    uidLength: sop.value.length,
    elements,
  };
}

let serial = 0;
/** A copy of the base's dataset under a SOP Instance UID of the same length, never used before. */
function fresh(b: Base): { dataset: Buffer; uid: string } {
  serial++;
  const digits = `${String(process.pid)}${String(serial)}`.padStart(b.uidLength - 5, '1');
  const uid = `2.25.${digits}`.slice(0, b.uidLength);
  const dataset = Buffer.from(b.dataset);
  dataset.write(uid, b.uidAt, 'latin1');
  return { dataset, uid };
}

const store = (b: Base, cls: string, expect: Expect, mutate: (d: Buffer) => Buffer): StoreCase => {
  const f = fresh(b);
  return {
    cls,
    sopClassUid: b.sopClassUid,
    transferSyntaxUid: b.transferSyntaxUid,
    sopInstanceUid: f.uid,
    dataset: mutate(f.dataset),
    expect,
  };
};

/** Every element and item boundary at every depth, with whether it is a top-level element boundary. */
function boundaries(b: Base): Map<number, boolean> {
  const out = new Map<number, boolean>();
  for (const e of b.elements) {
    out.set(e.start, true);
    out.set(e.end, true);
  }
  const items = (els: readonly Element[]): void => {
    for (const e of els) {
      for (const it of e.items ?? []) {
        if (!out.has(it.start)) {
          out.set(it.start, false);
        }
        if (!out.has(it.end)) {
          out.set(it.end, false);
        }
        items(it.elements);
      }
    }
  };
  walkElements(b.elements, (e, depth) => {
    if (depth > 0) {
      if (!out.has(e.start)) {
        out.set(e.start, false);
      }
      if (!out.has(e.end)) {
        out.set(e.end, false);
      }
    }
  });
  items(b.elements);
  out.delete(0);
  out.delete(b.dataset.length);
  return out;
}

/**
 * The base cut at every element boundary (every depth; a random `maxBoundaries` of them when
 * there are more) and at `extra` random offsets.
 */
export function cutCases(b: Base, rng: Rng, extra: number, maxBoundaries = Infinity): StoreCase[] {
  const image = requiresPixelData(b.sopClassUid);
  const pixel = b.elements.find((e) => e.tag === 0x7fe00010);
  const all = boundaries(b);
  const at = new Map([...all].filter(() => all.size <= maxBoundaries || rng.next() < maxBoundaries / all.size));
  for (let i = 0; i < extra; i++) {
    const p = rng.range(1, b.dataset.length - 1);
    if (!at.has(p)) {
      at.set(p, false);
    }
  }
  const out: StoreCase[] = [];
  for (const [p, topLevel] of at) {
    // A top-level cut is a smaller, well-formed dataset: malformed only when it drops an image's pixel data.
    const wellFormed = topLevel && (!image || (pixel !== undefined && p >= pixel.end));
    if (wellFormed && !image) {
      continue;
    }
    out.push(
      store(b, topLevel ? 'dataset:cut-top-level' : 'dataset:cut-inside', wellFormed ? 'any' : 'refuse', (d) =>
        d.subarray(0, p),
      ),
    );
  }
  return out;
}

interface Located {
  readonly el: Element;
  readonly containerEnd: number;
}

/** Elements whose length can be made to run past their container: top level, or inside a defined-length item. */
function lengthTargets(b: Base): Located[] {
  const out: Located[] = b.elements.map((el) => ({ el, containerEnd: b.dataset.length }));
  const le = b.enc.littleEndian;
  const visit = (items: readonly Item[]): void => {
    for (const it of items) {
      const length = le ? b.dataset.readUInt32LE(it.start + 4) : b.dataset.readUInt32BE(it.start + 4);
      if (length !== 0xffffffff) {
        for (const el of it.elements) {
          out.push({ el, containerEnd: it.end });
        }
      }
      // Items of a UN value are implicit VR little endian whatever the dataset's syntax: left alone.
      for (const el of it.elements) {
        if (el.vr !== 'UN') {
          visit(el.items ?? []);
        }
      }
    }
  };
  for (const el of b.elements) {
    if (el.vr !== 'UN') {
      visit(el.items ?? []);
    }
  }
  return out.filter((t) => !t.el.encapsulated);
}

/** One element's length field set to run 1–1000 bytes past its container (or the end of the dataset). */
export function lengthCases(b: Base, rng: Rng, n: number): StoreCase[] {
  const targets = lengthTargets(b);
  const out: StoreCase[] = [];
  const le = b.enc.littleEndian;
  for (let tries = 0; out.length < n && tries < n * 20; tries++) {
    const { el, containerEnd } = rng.pick(targets);
    const long =
      !b.enc.explicitVr ||
      ['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV'].includes(el.vr);
    const headerLength = !b.enc.explicitVr ? 8 : long ? 12 : 8;
    const want = containerEnd - (el.start + headerLength) + rng.range(1, 1000);
    if (want >= (long ? 0xffffffff : 0x10000)) {
      continue;
    }
    const field = el.start + (!b.enc.explicitVr ? 4 : long ? 8 : 6);
    out.push(
      store(b, 'dataset:length', 'refuse', (d) => {
        if (long) {
          if (le) {
            d.writeUInt32LE(want, field);
          } else {
            d.writeUInt32BE(want, field);
          }
        } else if (le) {
          d.writeUInt16LE(want, field);
        } else {
          d.writeUInt16BE(want, field);
        }
        return d;
      }),
    );
  }
  return out;
}

/** Bytes after the last element that cannot be one: too short for a header, or a tag lower than the last. */
export function trailingCases(b: Base, rng: Rng, n: number): StoreCase[] {
  const last = b.elements.at(-1)?.tag ?? 0x7fe00010;
  return Array.from({ length: n }, () =>
    store(b, 'dataset:trailing-garbage', 'refuse', (d) => {
      if (rng.chance(0.3)) {
        return Buffer.concat([d, rng.bytes(rng.range(1, 7))]);
      }
      const tail = rng.bytes(rng.range(8, 200));
      const group = rng.range(0x0002, Math.max(0x0002, (last >>> 16) - 1));
      if (b.enc.littleEndian) {
        tail.writeUInt16LE(group, 0);
      } else {
        tail.writeUInt16BE(group, 0);
      }
      return Buffer.concat([d, tail]);
    }),
  );
}

/** Explicit VR LE: a UI element. */
function uiElement(tag: number, value: string): Buffer {
  const v = Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
  const h = Buffer.alloc(8);
  h.writeUInt16LE(tag >>> 16, 0);
  h.writeUInt16LE(tag & 0xffff, 2);
  h.write('UI', 4, 'latin1');
  h.writeUInt16LE(v.length, 6);
  return Buffer.concat([h, v]);
}

const SQ_OPEN = Buffer.from('08004011' + '5351' + '0000' + 'ffffffff' + 'feff00e0ffffffff', 'hex');
const SQ_CLOSE = Buffer.from('feff0de000000000feffdde000000000', 'hex');

/** A basic text SR (no pixel data needed) holding sequences nested `depth` deep, defined or undefined lengths. */
export function nestingCase(depth: number, defined: boolean, uid: string, study: string, series: string): StoreCase {
  const inner = uiElement(0x00081150, '1.2.840.10008.5.1.4.1.1.2');
  let nested: Buffer;
  if (!defined) {
    nested = Buffer.concat([...Array<Buffer>(depth).fill(SQ_OPEN), inner, ...Array<Buffer>(depth).fill(SQ_CLOSE)]);
  } else {
    nested = inner;
    for (let i = 0; i < depth; i++) {
      const head = Buffer.from('0800401153510000' + '00000000' + 'feff00e0' + '00000000', 'hex');
      head.writeUInt32LE(nested.length + 8, 8);
      head.writeUInt32LE(nested.length, 16);
      nested = Buffer.concat([head, nested]);
    }
  }
  const sr = '1.2.840.10008.5.1.4.1.1.88.11';
  const dataset = Buffer.concat([
    uiElement(0x00080016, sr),
    uiElement(0x00080018, uid),
    nested,
    uiElement(0x0020000d, study),
    uiElement(0x0020000e, series),
  ]);
  return {
    cls: depth > 32 ? 'dataset:nesting-too-deep' : 'dataset:nesting-allowed',
    sopClassUid: sr,
    transferSyntaxUid: '1.2.840.10008.1.2.1',
    sopInstanceUid: uid,
    dataset,
    expect: depth > 32 ? 'refuse' : 'success',
  };
}

/** The whole base under a fresh UID: must be stored. */
export function controlCase(b: Base): StoreCase {
  return store(b, 'dataset:control', 'success', (d) => d);
}
