//! Is a received dataset whole and well-formed? Parsed to its end with the pipeline's own reader, before anyone is told Success.
// An instance acknowledged and then found unreadable by de-identification blocks its series for
// ever: the sender was told Success and will not resend (issue 18). So the intake runs the parser
// the pipeline uses (dataset.ts, the way dataset-file.ts reads files) over every byte except the
// pixel data value, plus the checks that parser leaves out because it only reads what it edits:
// elements must follow each other exactly (no gap, no overlap, nothing running past its item or
// sequence), no item or delimiter tag among elements, top-level tags ascending, nothing after the
// last element, and the pixel data as long as it says. Deeper nesting than MAX_DEPTH fails in the
// parser itself. Throws HeaderError; the intake answers 0xC000 and keeps nothing.
import { open } from 'node:fs/promises';
import { promisify } from 'node:util';
import { inflateRaw } from 'node:zlib';
import { parseDataset, type Element } from './dataset.ts';
import { fragmentsEnd } from './dataset-file.ts';
import { MAX_HEADER_BYTES, parseHead, plainHead } from './dataset-head.ts';
import { HeaderError, ITEM_END, PIXEL_DATA, SEQ_END, UNDEFINED } from './elements.ts';
import { decodeText, Tag, type Header, type TagName } from './read.ts';
import { encodingOf, type DatasetEncoding } from './transfer-syntax.ts';

const inflate = promisify(inflateRaw);

/** Float, double float and integer pixel data. */
const PIXEL_TAGS: ReadonlySet<number> = new Set([0x7fe00008, 0x7fe00009, PIXEL_DATA]);
/** The largest deflated dataset we inflate to check (the pipeline inflates it whole as well). */
const MAX_INFLATED_BYTES = 1024 * 1024 * 1024;

export interface ValidDataset {
  /** The attributes the intake records (read.ts `Header`). */
  readonly header: Header;
  /** Whether the top level holds pixel data (7FE0,0008/0009/0010). */
  readonly pixelData: boolean;
}

export interface ValidateInput {
  /** The whole dataset, when the caller holds it in memory (not for deflated data): one buffer, or
   *  the chunks it arrived in (not joined unless it has to be: see fromChunks). */
  readonly whole: Buffer | readonly Buffer[] | null;
  /** The file holding the dataset, at `datasetOffset`, when `whole` is null. */
  readonly path: string;
  readonly datasetOffset: number;
  readonly transferSyntaxUid: string;
}

const tagOf = (buf: Buffer, at: number, le: boolean): number =>
  (((le ? buf.readUInt16LE(at) : buf.readUInt16BE(at)) << 16) |
    (le ? buf.readUInt16LE(at + 2) : buf.readUInt16BE(at + 2))) >>>
  0;

const hex = (tag: number): string => tag.toString(16).padStart(8, '0');

/**
 * Checks that `els` fill exactly [from, to) of `src`, one after another; `top`: also ascending
 * tags, starting above `after`. Recurses into sequences.
 */
function checkElements(
  src: Buffer,
  le: boolean,
  els: readonly Element[],
  from: number,
  to: number,
  top: boolean,
  after = -1,
): void {
  let pos = from;
  let previous = after;
  for (const el of els) {
    if (el.start !== pos) {
      throw new HeaderError(`Element ${hex(el.tag)} does not follow the one before it (byte ${String(pos)}).`);
    }
    if (el.tag >>> 16 === 0xfffe) {
      throw new HeaderError(
        `Item or delimiter tag ${hex(el.tag)} where an element belongs (byte ${String(el.start)}).`,
      );
    }
    if (top && el.tag <= previous) {
      throw new HeaderError(`Top-level elements are out of order at ${hex(el.tag)}.`);
    }
    previous = el.tag;
    if (el.end > to) {
      throw new HeaderError(`Element ${hex(el.tag)} runs past the end of its ${top ? 'dataset' : 'item'}.`);
    }
    if (el.items) {
      checkSequence(src, le, el);
    }
    pos = el.end;
  }
  if (pos !== to) {
    throw new HeaderError(
      top
        ? `${String(to - pos)} bytes after the last element.`
        : `An item's elements end ${String(to - pos)} bytes before the item does.`,
    );
  }
}

/**
 * Items of a sequence: contiguous, each item's elements filling it, delimiters where lengths are
 * undefined. The element header is in the dataset's byte order; the items of a UN value are
 * implicit VR little endian (PS3.5 §6.2.2).
 */
function checkSequence(src: Buffer, datasetLe: boolean, el: Element): void {
  const items = el.items ?? [];
  const first = items[0];
  if (!first) {
    return;
  }
  const headerLength = first.start - el.start;
  if (headerLength !== 8 && headerLength !== 12) {
    throw new HeaderError(`Sequence ${hex(el.tag)} does not start with an item.`);
  }
  const defined = (datasetLe ? src.readUInt32LE(first.start - 4) : src.readUInt32BE(first.start - 4)) !== UNDEFINED;
  const le = el.vr === 'UN' ? true : datasetLe;
  let pos = first.start;
  for (const item of items) {
    if (item.start !== pos) {
      throw new HeaderError(`Items of sequence ${hex(el.tag)} are not contiguous.`);
    }
    if (item.end > el.end) {
      throw new HeaderError(`An item runs past the end of sequence ${hex(el.tag)}.`);
    }
    const undefinedItem = (le ? src.readUInt32LE(item.start + 4) : src.readUInt32BE(item.start + 4)) === UNDEFINED;
    if (undefinedItem && tagOf(src, item.end - 8, le) !== ITEM_END) {
      throw new HeaderError(`An item of sequence ${hex(el.tag)} is not closed by its delimiter.`);
    }
    checkElements(src, le, item.elements, item.start + 8, undefinedItem ? item.end - 8 : item.end, false);
    pos = item.end;
  }
  // Undefined length: the sequence delimiter follows the last item. Defined length: the items
  // fill the value (a redundant delimiter at the end is tolerated).
  const delimited = pos + 8 === el.end && tagOf(src, pos, le) === SEQ_END;
  if (defined ? pos !== el.end && !delimited : !delimited) {
    throw new HeaderError(`Sequence ${hex(el.tag)} is not closed where its length says.`);
  }
}

function headerOf(els: readonly Element[]): Header {
  const out: Header = {};
  for (const [name, tag] of Object.entries(Tag) as [TagName, number][]) {
    const el = els.find((e) => e.tag === tag);
    if (el?.value && el.value.length <= 1024) {
      out[name] = decodeText(el.value);
    }
  }
  return out;
}

function fromWhole(data: Buffer, enc: DatasetEncoding): ValidDataset {
  const { elements } = parseDataset(data, enc);
  if (elements.length === 0) {
    throw new HeaderError('Empty dataset.');
  }
  checkElements(data, enc.littleEndian, elements, 0, data.length, true);
  return { header: headerOf(elements), pixelData: elements.some((e) => PIXEL_TAGS.has(e.tag)) };
}

/** Bytes of a chunked dataset parsed before its pixel data: the header of an image is far smaller. */
const CHUNKED_HEAD_BYTES = 64 * 1024;

/**
 * A dataset held as the chunks it arrived in. The usual image (a header, then plain pixel data to
 * the end) is checked without joining the chunks: the head is parsed up to the pixel data, and the
 * pixel data's length checked against the total, as fromFile does. Anything else is joined and
 * parsed whole. Joining a 0.5 MB CT slice cost a copy per instance and, with the socket's and the
 * PDUs' buffers, external memory that made V8 run a full collection every ~11 instances.
 */
function fromChunks(chunks: readonly Buffer[], enc: DatasetEncoding): ValidDataset {
  const total = chunks.reduce((n, c) => n + c.length, 0);
  const whole = (): ValidDataset => fromWhole(Buffer.concat(chunks, total), enc);
  const first = chunks[0];
  if (!first) {
    return whole();
  }
  const want = Math.min(total, CHUNKED_HEAD_BYTES);
  const head = first.length >= want ? first : Buffer.concat(chunks, want);
  let ds: ReturnType<typeof parseDataset>;
  try {
    ds = parseDataset(head, enc, true);
  } catch (err) {
    if (err instanceof HeaderError && head.length < total) {
      return whole();
    }
    throw err;
  }
  const pixel = ds.elements.at(-1);
  if (pixel?.tag !== PIXEL_DATA || pixel.encapsulated || pixel.end !== total) {
    return whole();
  }
  const before = ds.elements.slice(0, -1);
  if (before.length === 0) {
    return whole();
  }
  checkElements(head, enc.littleEndian, before, 0, pixel.start, true);
  if (before.some((e) => e.tag >= PIXEL_DATA)) {
    throw new HeaderError('Top-level elements are out of order before the pixel data.');
  }
  return { header: headerOf(before), pixelData: true };
}

async function inflated(path: string, offset: number): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const compressed = Buffer.alloc(Math.max(0, size - offset));
    await fh.read(compressed, 0, compressed.length, offset);
    return await inflate(compressed, { maxOutputLength: MAX_INFLATED_BYTES });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new HeaderError('Deflated dataset inflates to more than 1 GiB.');
    }
    if (e.code?.startsWith('Z_')) {
      throw new HeaderError(
        e.code === 'Z_BUF_ERROR' ? 'Deflated data was cut short.' : `Deflated data is corrupt (${e.code}).`,
      );
    }
    throw err;
  } finally {
    await fh.close();
  }
}

/** A dataset too big to hold: everything before the pixel data parsed, the pixel data measured, what follows parsed. */
async function fromFile(path: string, offset: number, enc: DatasetEncoding): Promise<ValidDataset> {
  const fh = await open(path, 'r');
  try {
    const size = (await fh.stat()).size;
    const total = size - offset;
    const head = await parseHead(plainHead(fh, offset, size), enc, 1024 * 1024);
    const pixel = head.elements.at(-1);
    if (pixel?.tag !== PIXEL_DATA) {
      // parseHead read the whole dataset: no top-level (7FE0,0010) stopped it.
      checkElements(head.source, enc.littleEndian, head.elements, 0, head.source.length, true);
      return { header: headerOf(head.elements), pixelData: head.elements.some((e) => PIXEL_TAGS.has(e.tag)) };
    }
    const before = head.elements.slice(0, -1);
    checkElements(head.source, enc.littleEndian, before, 0, pixel.start, true);
    if (before.some((e) => e.tag >= PIXEL_DATA)) {
      throw new HeaderError('Top-level elements are out of order before the pixel data.');
    }
    const end =
      pixel.encapsulated || pixel.end < 0 ? await fragmentsEnd(fh, offset, pixel.start, enc.littleEndian) : pixel.end;
    if (end > total) {
      throw new HeaderError(
        `Pixel data needs ${String(end - pixel.start)} bytes; ${String(total - pixel.start)} were sent.`,
      );
    }
    if (end < total) {
      if (total - end > MAX_HEADER_BYTES) {
        throw new HeaderError(`${String(total - end)} bytes after the pixel data.`);
      }
      const tail = Buffer.alloc(total - end);
      await fh.read(tail, 0, tail.length, offset + end);
      checkElements(tail, enc.littleEndian, parseDataset(tail, enc).elements, 0, tail.length, true, PIXEL_DATA);
    }
    return { header: headerOf(before), pixelData: true };
  } finally {
    await fh.close();
  }
}

/**
 * Parses the whole dataset (`whole` in memory, else from the file) and checks its structure;
 * returns the header attributes. Throws HeaderError when the dataset is cut short or malformed.
 */
export async function validateDataset(o: ValidateInput): Promise<ValidDataset> {
  const enc = encodingOf(o.transferSyntaxUid);
  if (!enc) {
    throw new HeaderError(`Unsupported transfer syntax ${o.transferSyntaxUid}.`);
  }
  try {
    if (enc.deflated) {
      return fromWhole(await inflated(o.path, o.datasetOffset), enc);
    }
    if (Array.isArray(o.whole)) {
      return fromChunks(o.whole, enc);
    }
    return o.whole ? fromWhole(o.whole as Buffer, enc) : await fromFile(o.path, o.datasetOffset, enc);
  } catch (err) {
    // A read past a buffer's end is a length the data does not back up: malformed, not a bug.
    if (err instanceof RangeError) {
      throw new HeaderError(`Dataset is cut short: ${err.message}`);
    }
    throw err;
  }
}
