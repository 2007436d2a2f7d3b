//! A dataset as a tree of elements that remember where their bytes are, for copy-through rewriting.
// The anonymiser changes a few dozen header elements and must leave every other byte as it was
// (reference/libs.md §2: a dcmjs read-then-write re-encodes text, loses implicit private VRs and
// breaks deflated files). So the parser keeps, for each element and item, its byte range in the
// source; the writer (dataset-write.ts) copies unchanged ranges and re-encodes only what changed.
import { HeaderError, ITEM, ITEM_END, LONG_VRS, MAX_DEPTH, PIXEL_DATA, SEQ_END, UNDEFINED } from './elements.ts';
import { vrOf } from './dictionary.ts';
import type { DatasetEncoding } from './transfer-syntax.ts';

export interface Element {
  readonly tag: number;
  /** VR as stored (explicit), else from the dictionary; 'UN' for unknown private elements. */
  vr: string;
  /** Byte range of the whole element (header + value) in the source; -1 for elements we created. */
  readonly start: number;
  readonly end: number;
  /** Value bytes (not for sequences or encapsulated pixel data); may be a view of the source. */
  value: Buffer | null;
  /** Items of a sequence; for a UN element they are implicit VR little endian (PS3.5 §6.2.2). */
  items: Item[] | null;
  /** Encapsulated pixel data (fragments): always copied as stored. */
  readonly encapsulated: boolean;
  /** Set by edits; the writer re-encodes this element (and its parents). */
  dirty: boolean;
}

export interface Item {
  readonly start: number;
  readonly end: number;
  elements: Element[];
  dirty: boolean;
}

/** Where the dataset bytes come from: a buffer, plus a hole the caller streams (huge pixel data). */
export interface ParsedDataset {
  readonly encoding: DatasetEncoding;
  readonly source: Buffer;
  readonly elements: Element[];
}

/** Reader state over the source buffer (positions are buffer offsets). */
interface Cursor {
  readonly buf: Buffer;
  readonly enc: DatasetEncoding;
  pos: number;
  /** For a partial source: the top-level pixel data's value is not in the buffer. */
  readonly stopAtPixelData: boolean;
}

function u16(c: Cursor, at: number, le: boolean): number {
  return le ? c.buf.readUInt16LE(at) : c.buf.readUInt16BE(at);
}

function u32(c: Cursor, at: number, le: boolean): number {
  return le ? c.buf.readUInt32LE(at) : c.buf.readUInt32BE(at);
}

function need(c: Cursor, n: number): void {
  if (c.pos + n > c.buf.length) {
    throw new HeaderError(`Dataset ends inside an element at byte ${String(c.pos)}.`);
  }
}

interface Header {
  tag: number;
  vr: string | null;
  length: number;
  headerLength: number;
}

function readHeader(c: Cursor, explicit: boolean, le: boolean): Header {
  need(c, 8);
  const at = c.pos;
  const tag = ((u16(c, at, le) << 16) | u16(c, at + 2, le)) >>> 0;
  if (tag >>> 16 === 0xfffe || !explicit) {
    return { tag, vr: null, length: u32(c, at + 4, le), headerLength: 8 };
  }
  const vr = c.buf.toString('latin1', at + 4, at + 6);
  if (!/^[A-Z]{2}$/.test(vr)) {
    throw new HeaderError(`Invalid VR at byte ${String(at)}.`);
  }
  if (LONG_VRS.has(vr)) {
    need(c, 12);
    return { tag, vr, length: u32(c, at + 8, le), headerLength: 12 };
  }
  return { tag, vr, length: u16(c, at + 6, le), headerLength: 8 };
}

/** Parses elements until `end` (a byte offset) or, with `untilItemEnd`, the item delimiter. */
function parseElements(
  c: Cursor,
  end: number,
  explicit: boolean,
  le: boolean,
  depth: number,
  topLevel: boolean,
): Element[] {
  if (depth > MAX_DEPTH) {
    throw new HeaderError('Sequences nested too deeply.');
  }
  const out: Element[] = [];
  while (c.pos < end) {
    const start = c.pos;
    const h = readHeader(c, explicit, le);
    if (h.tag === ITEM_END) {
      c.pos += 8;
      break;
    }
    c.pos += h.headerLength;
    const vr = h.vr ?? vrOf(h.tag);
    if (topLevel && h.tag === PIXEL_DATA && c.stopAtPixelData) {
      // Partial source: the value lives in the file past the buffer and is streamed by the caller
      // (end -1: encapsulated, the caller walks the fragments in the file).
      const undefinedLength = h.length === UNDEFINED;
      out.push(
        element(
          h.tag,
          vr,
          start,
          undefinedLength ? -1 : start + h.headerLength + h.length,
          null,
          null,
          undefinedLength,
        ),
      );
      c.pos = c.buf.length;
      break;
    }
    if (h.tag === PIXEL_DATA && h.length === UNDEFINED) {
      skipFragments(c, le);
      out.push(element(h.tag, vr, start, c.pos, null, null, true));
      continue;
    }
    if (h.length === UNDEFINED) {
      // Undefined length: a sequence (explicit SQ, UN holding one, or implicit VR).
      const itemsExplicit = vr === 'UN' ? false : explicit;
      const itemsLe = vr === 'UN' ? true : le;
      const items = parseItems(c, Infinity, itemsExplicit, itemsLe, depth);
      out.push(element(h.tag, vr === 'UN' && h.vr === 'UN' ? 'UN' : 'SQ', start, c.pos, null, items, false));
      continue;
    }
    need(c, h.length);
    const valueEnd = c.pos + h.length;
    if (h.vr === 'UN' && vrOf(h.tag) === 'SQ') {
      // A public sequence relayed as UN by a node that did not know it: its value is implicit LE items.
      const items = tryItems(c, valueEnd, depth);
      if (items) {
        out.push(element(h.tag, 'UN', start, valueEnd, null, items, false));
        continue;
      }
    }
    if (vr === 'SQ') {
      const items = parseItems(c, valueEnd, explicit, le, depth);
      c.pos = valueEnd;
      out.push(element(h.tag, 'SQ', start, valueEnd, null, items, false));
      continue;
    }
    out.push(element(h.tag, vr, start, valueEnd, c.buf.subarray(c.pos, valueEnd), null, false));
    c.pos = valueEnd;
  }
  return out;
}

function element(
  tag: number,
  vr: string,
  start: number,
  end: number,
  value: Buffer | null,
  items: Item[] | null,
  encapsulated: boolean,
): Element {
  return { tag, vr, start, end, value, items, encapsulated, dirty: false };
}

function parseItems(c: Cursor, end: number, explicit: boolean, le: boolean, depth: number): Item[] {
  const items: Item[] = [];
  while (c.pos < end) {
    const start = c.pos;
    const h = readHeader(c, false, le);
    c.pos += 8;
    if (h.tag === SEQ_END) {
      break;
    }
    if (h.tag !== ITEM) {
      throw new HeaderError(`Expected an item at byte ${String(start)}.`);
    }
    const itemEnd = h.length === UNDEFINED ? Infinity : c.pos + h.length;
    if (itemEnd !== Infinity) {
      need(c, h.length);
    }
    const elements = parseElements(c, itemEnd, explicit, le, depth + 1, false);
    if (itemEnd !== Infinity) {
      c.pos = itemEnd;
    }
    items.push({ start, end: c.pos, elements, dirty: false });
  }
  return items;
}

/** Items of a defined-length UN value, or null (cursor unchanged) when it does not parse as items. */
function tryItems(c: Cursor, end: number, depth: number): Item[] | null {
  const at = c.pos;
  try {
    const items = parseItems(c, end, false, true, depth);
    if (c.pos === end) {
      return items;
    }
  } catch (err) {
    if (!(err instanceof HeaderError) && !(err instanceof RangeError)) {
      throw err;
    }
  }
  c.pos = at;
  return null;
}

/** Walks encapsulated pixel data fragments (item headers only) up to the sequence delimiter. */
function skipFragments(c: Cursor, le: boolean): void {
  for (;;) {
    const h = readHeader(c, false, le);
    c.pos += 8;
    if (h.tag === SEQ_END) {
      return;
    }
    if (h.tag !== ITEM) {
      throw new HeaderError('Expected a fragment item in encapsulated pixel data.');
    }
    need(c, h.length);
    c.pos += h.length;
  }
}

/**
 * Parses the dataset in `source` (the bytes after the file meta, inflated if deflated).
 * `partial`: the buffer stops inside the top-level pixel data value (see dataset-file.ts).
 */
export function parseDataset(source: Buffer, encoding: DatasetEncoding, partial = false): ParsedDataset {
  const c: Cursor = { buf: source, enc: encoding, pos: 0, stopAtPixelData: partial };
  try {
    const elements = parseElements(c, source.length, encoding.explicitVr, encoding.littleEndian, 0, true);
    return { encoding, source, elements };
  } catch (err) {
    if (err instanceof RangeError) {
      throw new HeaderError(`Dataset is cut short: ${err.message}`);
    }
    throw err;
  }
}

/** Calls `fn` for every element at every depth (depth-first, parents before children). */
export function walkElements(
  elements: readonly Element[],
  fn: (el: Element, depth: number, parent: readonly Element[]) => void,
  depth = 0,
): void {
  for (const el of elements) {
    fn(el, depth, elements);
    if (el.items) {
      for (const item of el.items) {
        walkElements(item.elements, fn, depth + 1);
      }
    }
  }
}

/** Finds a top-level (or item-level) element by tag in a sorted element list. */
export function findElement(elements: readonly Element[], tag: number): Element | undefined {
  return elements.find((e) => e.tag === tag);
}
