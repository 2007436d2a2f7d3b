//! validateDataset: whole datasets pass, in memory and from the file; every kind of malformed one fails, however it is read.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDataset, walkElements } from '../../../src/dicom/dataset.ts';
import { HeaderError } from '../../../src/dicom/elements.ts';
import { readHeader } from '../../../src/dicom/read.ts';
import { sniffFile } from '../../../src/dicom/sniff.ts';
import { encodingOf, TS } from '../../../src/dicom/transfer-syntax.ts';
import { validateDataset, type ValidDataset } from '../../../src/dicom/validate.ts';
import { elementHeader, encodeDataset, syntaxOf, TransferSyntax } from '../../helpers/dicom-encoder.ts';
import { encodeInstance, newUid } from '../../helpers/dicom-factory.ts';

const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
/** The real files checkComplete's tests use (complete.test.ts), minus the bare datasets. */
const REAL = [
  'CT_small.dcm',
  'MR_small_padded.dcm',
  'MR_small_implicit.dcm',
  'MR_small_bigendian.dcm',
  'ExplVR_BigEnd.dcm',
  'JPEG2000.dcm',
  'SC_rgb_jpeg_dcmtk.dcm',
  'JPGExtended.dcm',
  'MR_small_RLE.dcm',
  'SC_rgb_rle_2frame.dcm',
  'rtdose.dcm',
  'test-SR.dcm',
  'waveform_ecg.dcm',
  'liver_1frame.dcm',
  'UN_sequence.dcm',
  'image_dfl.dcm',
  'rtplan.dcm',
];
const ELE = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
const LE = { explicitVr: true, littleEndian: true, deflated: false };
const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'xg-validate-'));
});
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** `data` cut as a network delivers it: pieces of 7, 1,000 and 65,536 bytes in turn; and nearly whole, then 3 bytes. */
function chunkings(data: Buffer): Buffer[][] {
  const small: Buffer[] = [];
  for (let off = 0, i = 0; off < data.length; i++) {
    const n = [7, 1000, 65536][i % 3] ?? 7;
    small.push(data.subarray(off, off + n));
    off += n;
  }
  const cut = Math.max(0, data.length - 3);
  return [small, [data.subarray(0, cut), data.subarray(cut)]];
}

/** Validates `dataset` every way: from memory (whole, and as chunks) and from a file (after a 132-byte stand-in for the meta). */
async function both(dataset: Buffer, ts: string = TS.ExplicitLE): Promise<ValidDataset[]> {
  const file = join(dir, `${newUid()}.dcm`);
  writeFileSync(file, Buffer.concat([Buffer.alloc(132), dataset]));
  const fromFile = await validateDataset({ whole: null, path: file, datasetOffset: 132, transferSyntaxUid: ts });
  const fromMemory = await validateDataset({ whole: dataset, path: file, datasetOffset: 132, transferSyntaxUid: ts });
  for (const chunks of chunkings(dataset)) {
    expect(await validateDataset({ whole: chunks, path: file, datasetOffset: 132, transferSyntaxUid: ts })).toEqual(
      fromMemory,
    );
  }
  return [fromMemory, fromFile];
}

/** Expects every way to throw HeaderError matching `re`. */
async function rejectsBoth(dataset: Buffer, re: RegExp, ts: string = TS.ExplicitLE): Promise<void> {
  const file = join(dir, `${newUid()}.dcm`);
  writeFileSync(file, Buffer.concat([Buffer.alloc(132), dataset]));
  await expect(
    validateDataset({ whole: dataset, path: file, datasetOffset: 132, transferSyntaxUid: ts }),
  ).rejects.toThrow(re);
  await expect(validateDataset({ whole: null, path: file, datasetOffset: 132, transferSyntaxUid: ts })).rejects.toThrow(
    re,
  );
  for (const chunks of chunkings(dataset)) {
    await expect(
      validateDataset({ whole: chunks, path: file, datasetOffset: 132, transferSyntaxUid: ts }),
    ).rejects.toThrow(re);
  }
}

const dataset = (o: Parameters<typeof encodeInstance>[0] = {}): Buffer =>
  encodeInstance({ omitFileMeta: true, ...o }).bytes;
const ui = (tag: number, value: string) => ({ tag, vr: 'UI' as const, value });

/** Explicit VR LE bytes of a sequence nested `depth` deep (each item holding the next sequence), built without recursion. */
function nested(depth: number, undefinedLength: boolean): Buffer {
  const inner = encodeDataset([ui(0x00081150, '1.2.3')], ELE);
  if (undefinedLength) {
    const open = Buffer.concat([
      elementHeader(0x00081140, 'SQ', 0xffffffff, ELE),
      Buffer.from('feff00e0ffffffff', 'hex'),
    ]);
    const close = Buffer.from('feff0de000000000feffdde000000000', 'hex');
    return Buffer.concat([...Array<Buffer>(depth).fill(open), inner, ...Array<Buffer>(depth).fill(close)]);
  }
  let value = inner;
  for (let i = 0; i < depth; i++) {
    const itemHead = Buffer.from('feff00e000000000', 'hex');
    itemHead.writeUInt32LE(value.length, 4);
    value = Buffer.concat([elementHeader(0x00081140, 'SQ', value.length + 8, ELE), itemHead, value]);
  }
  return value;
}

describe('validateDataset accepts', () => {
  it('a generated CT in every uncompressed syntax, from memory and from the file, with its header', async () => {
    for (const ts of Object.values(TransferSyntax)) {
      const inst = encodeInstance({ omitFileMeta: true, transferSyntax: ts, rows: 64, columns: 64 });
      for (const v of await both(inst.bytes, ts)) {
        expect(v.pixelData).toBe(true);
        expect(v.header).toMatchObject({
          SOPInstanceUID: inst.sopInstanceUid,
          StudyInstanceUID: inst.studyInstanceUid,
          SeriesInstanceUID: inst.seriesInstanceUid,
          Modality: 'CT',
        });
      }
    }
  });

  it.each(REAL)('the real file %s (pydicom test data), both ways', async (name) => {
    const path = join(PYDICOM_DIR, name);
    const s = await sniffFile(path);
    if (s.kind !== 'part10') {
      throw new Error(`${name}: ${s.kind}`);
    }
    const data = readFileSync(path).subarray(s.datasetOffset);
    const deflated = encodingOf(s.transferSyntaxUid)?.deflated === true;
    const v = await validateDataset({
      whole: deflated ? null : data,
      path,
      datasetOffset: s.datasetOffset,
      transferSyntaxUid: s.transferSyntaxUid,
    });
    // The same attributes the header walker (read.ts) finds.
    expect(v.header).toEqual(await readHeader(path, s.datasetOffset, s.transferSyntaxUid));
    const fromFile = await validateDataset({
      whole: null,
      path,
      datasetOffset: s.datasetOffset,
      transferSyntaxUid: s.transferSyntaxUid,
    });
    expect(fromFile).toEqual(v);
    if (!deflated) {
      for (const chunks of chunkings(data)) {
        expect(
          await validateDataset({
            whole: chunks,
            path,
            datasetOffset: s.datasetOffset,
            transferSyntaxUid: s.transferSyntaxUid,
          }),
        ).toEqual(v);
      }
    }
  });

  it('sequences nested 32 deep, with defined and undefined lengths', async () => {
    for (const undefinedLength of [true, false]) {
      await both(Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), nested(32, undefinedLength)]));
    }
  });

  it('a redundant sequence delimiter at the end of a defined-length sequence', async () => {
    const item = encodeDataset([ui(0x00081150, '1.2.3')], ELE);
    const itemBytes = Buffer.concat([Buffer.from('feff00e0', 'hex'), Buffer.from([item.length, 0, 0, 0]), item]);
    const value = Buffer.concat([itemBytes, Buffer.from('feffdde000000000', 'hex')]);
    const sq = Buffer.concat([elementHeader(0x00081140, 'SQ', value.length, ELE), value]);
    await both(Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), sq]));
  });

  it('an image cut at a top-level element boundary as a well-formed dataset without pixel data (the intake refuses it: 0xA900)', async () => {
    const full = dataset();
    const pixel = parseDataset(full, LE).elements.at(-1);
    for (const v of await both(full.subarray(0, pixel?.start))) {
      expect(v.pixelData).toBe(false);
    }
  });
});

describe('validateDataset refuses', () => {
  it('a dataset cut inside any element or item, from memory and from the file', async () => {
    const full = dataset({ rows: 4, columns: 4 });
    const top = new Set(parseDataset(full, LE).elements.map((e) => e.end));
    let cuts = 0;
    for (let n = 1; n < full.length; n++) {
      if (top.has(n)) {
        continue;
      }
      await rejectsBoth(full.subarray(0, n), /./);
      cuts++;
    }
    expect(cuts).toBeGreaterThan(full.length - 80);
  });

  it('a dataset cut at every nested element boundary (an undefined-length sequence never closed)', async () => {
    const full = dataset({ rows: 4, columns: 4 });
    const { elements } = parseDataset(full, LE);
    const nestedEnds: number[] = [];
    walkElements(elements, (el, depth) => {
      if (depth > 0) {
        nestedEnds.push(el.end);
      }
    });
    expect(nestedEnds.length).toBeGreaterThan(1);
    for (const end of nestedEnds) {
      await rejectsBoth(full.subarray(0, end), /./);
    }
  });

  it('pixel data declared longer than what was sent', async () => {
    const full = dataset({ rows: 8, columns: 8 });
    const pixel = parseDataset(full, LE).elements.at(-1);
    if (!pixel) {
      throw new Error('no pixel data');
    }
    const lying = Buffer.from(full);
    lying.writeUInt32LE(8 * 8 * 2 + 2, pixel.start + 8);
    await rejectsBoth(lying, /cut short|ends inside|Pixel data needs/);
  });

  it('garbage after the last element, whatever it looks like', async () => {
    const full = dataset();
    for (const tail of [
      Buffer.alloc(4),
      Buffer.alloc(8),
      Buffer.from('deadbeefdeadbeefdeadbeef', 'hex'),
      Buffer.from('feff0de000000000', 'hex'),
      encodeDataset([ui(0x00080018, '1.2.3')], ELE),
    ]) {
      await rejectsBoth(Buffer.concat([full, tail]), /./);
    }
  });

  it('an item delimiter at the top level, which the pipeline reader stops at silently', async () => {
    const head = encodeDataset([ui(0x00080018, '1.2.3')], ELE);
    const data = Buffer.concat([
      head,
      Buffer.from('feff0de000000000', 'hex'),
      encodeDataset([ui(0x0020000d, '1.2.4')], ELE),
    ]);
    expect(() => parseDataset(data, LE)).not.toThrow();
    await rejectsBoth(data, /after the last element|delimiter/);
  });

  it('an element running past the end of its defined-length item, which the pipeline reader takes silently', async () => {
    const inner = encodeDataset([ui(0x00081150, '1.2.3'), ui(0x00081155, '1.2.3.4.5.6')], ELE);
    const shortItem = Buffer.concat([Buffer.from('feff00e0', 'hex'), Buffer.from([10, 0, 0, 0]), inner]);
    const sq = Buffer.concat([elementHeader(0x00081140, 'SQ', shortItem.length, ELE), shortItem]);
    const data = Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), sq]);
    await rejectsBoth(data, /./);
  });

  it('a sequence delimiter among the elements of an item', async () => {
    const inner = Buffer.concat([
      encodeDataset([ui(0x00081150, '1.2.3')], ELE),
      Buffer.from('feffdde000000000', 'hex'),
      encodeDataset([ui(0x00081155, '1.2.4')], ELE),
    ]);
    const item = Buffer.concat([Buffer.from('feff00e0ffffffff', 'hex'), inner, Buffer.from('feff0de000000000', 'hex')]);
    const sq = Buffer.concat([
      elementHeader(0x00081140, 'SQ', 0xffffffff, ELE),
      item,
      Buffer.from('feffdde000000000', 'hex'),
    ]);
    await rejectsBoth(Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), sq]), /./);
  });

  it('sequences nested 64 and 2,000 deep, without running out of stack', async () => {
    for (const depth of [33, 64, 2000]) {
      for (const undefinedLength of [true, false]) {
        await rejectsBoth(
          Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), nested(depth, undefinedLength)]),
          /nested too deeply/,
        );
      }
    }
  });

  it('an undefined-length sequence never closed', async () => {
    const item = Buffer.concat([
      Buffer.from('feff00e0ffffffff', 'hex'),
      encodeDataset([ui(0x00081150, '1.2.3')], ELE),
      Buffer.from('feff0de000000000', 'hex'),
    ]);
    const sq = Buffer.concat([elementHeader(0x00081140, 'SQ', 0xffffffff, ELE), item]);
    await rejectsBoth(Buffer.concat([encodeDataset([ui(0x00080018, '1.2.3')], ELE), sq]), /./);
  });

  it('top-level elements out of order', async () => {
    await rejectsBoth(
      Buffer.concat([encodeDataset([ui(0x0020000d, '1.2.3')], ELE), encodeDataset([ui(0x00080018, '1.2.4')], ELE)]),
      /out of order/,
    );
  });

  it('encapsulated pixel data cut inside a fragment or missing its delimiter', async () => {
    const frag = Buffer.alloc(100, 7);
    const pixel = Buffer.concat([
      elementHeader(0x7fe00010, 'OB', 0xffffffff, ELE),
      Buffer.from('feff00e000000000', 'hex'),
      Buffer.from('feff00e0', 'hex'),
      Buffer.from([100, 0, 0, 0]),
      frag,
      Buffer.from('feffdde000000000', 'hex'),
    ]);
    const head = encodeDataset([ui(0x00080018, '1.2.3')], ELE);
    await both(Buffer.concat([head, pixel]), JPEG_BASELINE);
    await rejectsBoth(Buffer.concat([head, pixel.subarray(0, pixel.length - 8)]), /./, JPEG_BASELINE);
    await rejectsBoth(Buffer.concat([head, pixel.subarray(0, pixel.length - 20)]), /./, JPEG_BASELINE);
  });

  it('deflated data cut short or corrupt', async () => {
    const raw = dataset();
    const deflated = deflateRawSync(raw);
    const file = (b: Buffer): string => {
      const p = join(dir, `${newUid()}.dcm`);
      writeFileSync(p, Buffer.concat([Buffer.alloc(132), b]));
      return p;
    };
    const v = await validateDataset({
      whole: null,
      path: file(deflated),
      datasetOffset: 132,
      transferSyntaxUid: TS.DeflatedExplicitLE,
    });
    expect(v.pixelData).toBe(true);
    await expect(
      validateDataset({
        whole: null,
        path: file(deflated.subarray(0, deflated.length - 10)),
        datasetOffset: 132,
        transferSyntaxUid: TS.DeflatedExplicitLE,
      }),
    ).rejects.toThrow(HeaderError);
    const corrupt = Buffer.from(deflated);
    corrupt.fill(0xff, 10, 40);
    await expect(
      validateDataset({
        whole: null,
        path: file(corrupt),
        datasetOffset: 132,
        transferSyntaxUid: TS.DeflatedExplicitLE,
      }),
    ).rejects.toThrow(HeaderError);
  });
});
