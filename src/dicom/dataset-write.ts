//! Writes a parsed dataset back: unchanged elements and items are copied byte for byte, changed ones re-encoded.
// The output is a list of chunks so a caller can stream a huge pixel data value from the input
// file instead of holding it (dataset-file.ts). Re-encoded sequences and items use undefined
// lengths, which every transfer syntax allows, so no length has to be recomputed up the tree.
import { ITEM, ITEM_END, LONG_VRS, PIXEL_DATA, SEQ_END, UNDEFINED } from './elements.ts';
import type { Element, Item, ParsedDataset } from './dataset.ts';

/**
 * A piece of output: bytes, or a byte range of the source buffer (copied verbatim). The top-level
 * pixel data is always a range of its own (`pixel`), so writers can keep it out of verification.
 */
export type Chunk = Buffer | { readonly from: number; readonly to: number; readonly pixel?: true };

interface Enc {
  readonly explicit: boolean;
  readonly le: boolean;
}

function tagHeader(tag: number, enc: Enc, vr: string, length: number): Buffer {
  const group = tag >>> 16;
  const elem = tag & 0xffff;
  const delimiter = group === 0xfffe;
  const long = enc.explicit && !delimiter && LONG_VRS.has(vr);
  const h = Buffer.alloc(long ? 12 : 8);
  if (enc.le) {
    h.writeUInt16LE(group, 0);
    h.writeUInt16LE(elem, 2);
  } else {
    h.writeUInt16BE(group, 0);
    h.writeUInt16BE(elem, 2);
  }
  if (!enc.explicit || delimiter) {
    if (enc.le) {
      h.writeUInt32LE(length >>> 0, 4);
    } else {
      h.writeUInt32BE(length >>> 0, 4);
    }
    return h;
  }
  h.write(vr, 4, 'latin1');
  if (long) {
    if (enc.le) {
      h.writeUInt32LE(length >>> 0, 8);
    } else {
      h.writeUInt32BE(length >>> 0, 8);
    }
  } else {
    if (length > 0xffff) {
      throw new RangeError(`Value of VR ${vr} is too long (${String(length)} bytes).`);
    }
    if (enc.le) {
      h.writeUInt16LE(length, 6);
    } else {
      h.writeUInt16BE(length, 6);
    }
  }
  return h;
}

/** True when this element or anything below it was edited. */
export function isDirty(el: Element): boolean {
  if (el.dirty || el.start < 0) {
    return true;
  }
  return el.items?.some(itemDirty) ?? false;
}

function itemDirty(item: Item): boolean {
  return item.dirty || item.start < 0 || item.elements.some(isDirty);
}

function writeElements(elements: readonly Element[], enc: Enc, out: Chunk[], top = false): void {
  for (const el of elements) {
    if (!isDirty(el)) {
      out.push(
        top && el.tag === PIXEL_DATA ? { from: el.start, to: el.end, pixel: true } : { from: el.start, to: el.end },
      );
      continue;
    }
    if (el.items) {
      // Items of a UN element are implicit VR little endian whatever the dataset's syntax.
      const inner: Enc = el.vr === 'UN' ? { explicit: false, le: true } : enc;
      out.push(tagHeader(el.tag, enc, el.vr === 'UN' ? 'UN' : 'SQ', UNDEFINED));
      for (const item of el.items) {
        if (!itemDirty(item)) {
          out.push({ from: item.start, to: item.end });
          continue;
        }
        out.push(tagHeader(ITEM, inner, '', UNDEFINED));
        writeElements(item.elements, inner, out);
        out.push(tagHeader(ITEM_END, inner, '', 0));
      }
      out.push(tagHeader(SEQ_END, inner, '', 0));
      continue;
    }
    const value = el.value ?? Buffer.alloc(0);
    if (value.length % 2) {
      throw new RangeError('Element values must have even length.');
    }
    out.push(tagHeader(el.tag, enc, el.vr, value.length), value);
  }
}

/** The dataset as chunks; concatenating them (ranges taken from `ds.source`) gives the new bytes. */
export function writeDataset(ds: ParsedDataset): Chunk[] {
  const out: Chunk[] = [];
  writeElements(ds.elements, { explicit: ds.encoding.explicitVr, le: ds.encoding.littleEndian }, out, true);
  return merge(out);
}

/** Joins adjacent source ranges so a mostly unchanged dataset is a handful of copies. */
function merge(chunks: Chunk[]): Chunk[] {
  const out: Chunk[] = [];
  for (const c of chunks) {
    const last = out.at(-1);
    if (last && !Buffer.isBuffer(last) && !Buffer.isBuffer(c) && last.to === c.from && !last.pixel && !c.pixel) {
      out[out.length - 1] = { from: last.from, to: c.to };
    } else {
      out.push(c);
    }
  }
  return out;
}

/** The chunks as buffers: views of `source` for ranges (no copy). */
export function chunkBuffers(chunks: readonly Chunk[], source: Buffer): Buffer[] {
  return chunks.map((c) => (Buffer.isBuffer(c) ? c : source.subarray(c.from, c.to)));
}

/** Materialises chunks whose ranges all lie inside `source` (small datasets, tests). */
export function chunksToBuffer(chunks: readonly Chunk[], source: Buffer): Buffer {
  return Buffer.concat(chunkBuffers(chunks, source));
}

/**
 * The output split around the top-level pixel data: what comes before it and after it, as
 * buffers (for verification: the pixel value itself is never changed and never searched), and
 * the pixel data element itself, a view of `source`.
 */
export function splitAtPixelData(
  chunks: readonly Chunk[],
  source: Buffer,
): { before: Buffer; pixel: Buffer | null; after: Buffer | null } {
  const i = chunks.findIndex((c) => !Buffer.isBuffer(c) && c.pixel === true);
  const p = chunks[i];
  if (i < 0 || p === undefined) {
    return { before: chunksToBuffer(chunks, source), pixel: null, after: null };
  }
  return {
    before: chunksToBuffer(chunks.slice(0, i), source),
    pixel: Buffer.isBuffer(p) ? p : source.subarray(p.from, p.to),
    after: i + 1 < chunks.length ? chunksToBuffer(chunks.slice(i + 1), source) : null,
  };
}
