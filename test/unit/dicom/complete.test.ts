import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { constants, deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndOfData } from '../../../src/dicom/byte-source.ts';
import { buildPart10Header } from '../../../src/dicom/part10.ts';
import { checkComplete } from '../../../src/dicom/complete.ts';
import { HeaderError } from '../../../src/dicom/elements.ts';
import { TS } from '../../../src/dicom/transfer-syntax.ts';
import { elementHeader, encodeDataset, syntaxOf, TransferSyntax, type Element } from '../../helpers/dicom-encoder.ts';
import { writeInstance, type TransferSyntaxUid } from '../../helpers/dicom-factory.ts';

const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

// pydicom is the independent reader: where the dataset starts and in which syntax, how many
// top-level elements it has (len(ds), trailing padding included), where the Pixel Data and SOP
// Instance UID values start (RawDataElement.value_tell, positions in the file for plain
// datasets), and for deflated files where the compressed stream ends.
const ORACLE = `
import json, sys, warnings, zlib
warnings.simplefilter('ignore')
import pydicom
from pydicom.filereader import read_preamble, _read_file_meta_info
from pydicom.tag import Tag
out = {}
for p in sys.argv[1:]:
    with open(p, 'rb') as fp:
        read_preamble(fp, True)
        meta = _read_file_meta_info(fp)
        offset = fp.tell()
    ds = pydicom.dcmread(p, force=True)
    ts = str(meta.get('TransferSyntaxUID', '') or '')
    if not ts:
        ts = '1.2.840.10008.1.2' if ds.is_implicit_VR else ('1.2.840.10008.1.2.1' if ds.is_little_endian else '1.2.840.10008.1.2.2')
    raw = ds._dict
    pixel = raw.get(Tag(0x7fe00010))
    sop = raw.get(Tag(0x00080018))
    r = {'offset': offset, 'ts': ts, 'elements': len(ds),
         'pixelTell': getattr(pixel, 'value_tell', None), 'pixelLength': getattr(pixel, 'length', None),
         'sopTell': getattr(sop, 'value_tell', None), 'sopLength': getattr(sop, 'length', None)}
    if ts == '1.2.840.10008.1.2.1.99':
        data = open(p, 'rb').read()
        d = zlib.decompressobj(-15)
        d.decompress(data[offset:])
        r['deflateEnd'] = len(data) - len(d.unused_data) if d.eof else None
    out[p] = r
print(json.dumps(out))
`;

interface Oracle {
  readonly offset: number;
  readonly ts: string;
  readonly elements: number;
  readonly pixelTell: number | null;
  readonly pixelLength: number | null;
  readonly sopTell: number | null;
  readonly sopLength: number | null;
  readonly deflateEnd?: number | null;
}

function pydicom(paths: readonly string[]): Record<string, Oracle> {
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', ORACLE, ...paths], { encoding: 'utf8', timeout: 60_000 });
    return JSON.parse(out) as Record<string, Oracle>;
  } catch (err) {
    throw new Error(
      `The pydicom oracle failed; install python3-pydicom (apt-get install python3-pydicom). ${String(err)}`,
      { cause: err },
    );
  }
}

const UNDEFINED = 0xffffffff;

const REAL = [
  'CT_small.dcm', // explicit VR LE, ends with (FFFC,FFFC) padding
  'MR_small_padded.dcm', // trailing padding
  'MR_small_implicit.dcm', // implicit VR LE
  'MR_small_bigendian.dcm', // explicit VR BE
  'ExplVR_BigEnd.dcm', // explicit VR BE
  'JPEG2000.dcm', // encapsulated JPEG 2000
  'SC_rgb_jpeg_dcmtk.dcm', // encapsulated JPEG baseline
  'JPGExtended.dcm', // encapsulated JPEG extended
  'MR_small_RLE.dcm', // RLE
  'SC_rgb_rle_2frame.dcm', // RLE, two fragments
  'rtdose.dcm', // implicit VR LE, multi-frame
  'test-SR.dcm', // nested sequences, no pixel data
  'waveform_ecg.dcm', // ~290 KB waveform
  'liver_1frame.dcm', // segmentation, nested sequences
  'UN_sequence.dcm', // a UN element of undefined length
  'rtstruct.dcm', // bare implicit VR LE dataset
  'ExplVR_BigEndNoMeta.dcm', // bare explicit VR BE dataset
  'image_dfl.dcm', // deflated
];
const PLAIN = REAL.filter((n) => n !== 'image_dfl.dcm');
const ENCAPSULATED = [
  'JPEG2000.dcm',
  'SC_rgb_jpeg_dcmtk.dcm',
  'JPGExtended.dcm',
  'MR_small_RLE.dcm',
  'SC_rgb_rle_2frame.dcm',
];
const GENERATED: readonly TransferSyntaxUid[] = [
  TransferSyntax.ExplicitVRLittleEndian,
  TransferSyntax.ImplicitVRLittleEndian,
  TransferSyntax.ExplicitVRBigEndian,
];
/** Names of the generated files (written in beforeAll), keyed like the real ones. */
const GENERATED_NAMES = GENERATED.map((ts) => `gen-${ts}`);

/** The item positions of encapsulated pixel data: item header offsets and lengths, then the delimiter offset. */
function fragments(
  bytes: Buffer,
  start: number,
  littleEndian: boolean,
): { items: { at: number; length: number }[]; delimiter: number } {
  const items: { at: number; length: number }[] = [];
  let pos = start;
  for (;;) {
    const group = littleEndian ? bytes.readUInt16LE(pos) : bytes.readUInt16BE(pos);
    const elem = littleEndian ? bytes.readUInt16LE(pos + 2) : bytes.readUInt16BE(pos + 2);
    const length = littleEndian ? bytes.readUInt32LE(pos + 4) : bytes.readUInt32BE(pos + 4);
    if (group !== 0xfffe) {
      throw new Error(`No item at ${String(pos)}.`);
    }
    if (elem === 0xe0dd) {
      return { items, delimiter: pos };
    }
    items.push({ at: pos, length });
    pos += 8 + length;
  }
}

describe('checkComplete', () => {
  let dir: string;
  let oracle: Record<string, Oracle>;
  const generated: Record<string, string> = {};

  const real = (name: string): string => join(PYDICOM_DIR, name);
  const path = (name: string): string => generated[name] ?? real(name);
  const o = (name: string): Oracle => {
    const r = oracle[path(name)];
    if (r === undefined) {
      throw new Error(`No oracle for ${name}.`);
    }
    return r;
  };
  const write = (name: string, bytes: Buffer): string => {
    const p = join(dir, name);
    writeFileSync(p, bytes);
    return p;
  };
  /** `name` cut to its first `length` bytes. */
  const cut = (name: string, length: number): string =>
    write(`cut-${name.replaceAll('/', '_')}-${String(length)}`, readFileSync(path(name)).subarray(0, length));
  const check = (name: string, file = path(name)): Promise<{ elements: number }> =>
    checkComplete(file, o(name).offset, o(name).ts);

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'xg-complete-'));
    for (const ts of GENERATED) {
      generated[`gen-${ts}`] = (
        await writeInstance(join(dir, `gen-${ts}.dcm`), { transferSyntax: ts, rows: 64, columns: 64 })
      ).path;
    }
    oracle = pydicom([
      ...REAL.map(real),
      ...Object.values(generated),
      real('MR_truncated.dcm'),
      real('rtplan_truncated.dcm'),
      real('SC_rgb_jpeg.dcm'),
    ]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  describe('complete files', () => {
    it.each(GENERATED)('passes a generated file in %s and counts the elements pydicom counts', async (ts) => {
      const name = `gen-${ts}`;
      expect(await check(name)).toEqual({ elements: o(name).elements });
    });

    it.each(REAL)('passes %s and counts the elements pydicom counts', async (name) => {
      expect(await check(name)).toEqual({ elements: o(name).elements });
    });

    it('counts trailing padding (FFFC,FFFC) as an element', async () => {
      const bytes = readFileSync(real('MR_small_padded.dcm'));
      const at = bytes.lastIndexOf(Buffer.from([0xfc, 0xff, 0xfc, 0xff, 0x4f, 0x42]));
      expect(at).toBeGreaterThan(0);
      const without = write('unpadded.dcm', bytes.subarray(0, at));
      expect((await check('MR_small_padded.dcm', without)).elements).toBe(o('MR_small_padded.dcm').elements - 1);
    });

    it('walks over a 4 GB Pixel Data value and notices when it is one byte short (sparse file)', async () => {
      const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
      const length = 0xfffffff0;
      const head = Buffer.concat([
        buildPart10Header({
          sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
          sopInstanceUid: '1.2.3',
          transferSyntaxUid: TS.ExplicitLE,
        }),
        encodeDataset([{ tag: 0x00080018, vr: 'UI', value: '1.2.3' }], s),
      ]);
      const offset = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3',
        transferSyntaxUid: TS.ExplicitLE,
      }).length;
      const file = write('huge.dcm', Buffer.concat([head, elementHeader(0x7fe00010, 'OW', length, s)]));
      const size = head.length + 12 + length;
      truncateSync(file, size);
      // Speed (seek, not read) is a benchmark matter; here only the 32-bit length handling is checked.
      expect(await checkComplete(file, offset, TS.ExplicitLE)).toEqual({ elements: 2 });
      truncateSync(file, size - 1);
      await expect(checkComplete(file, offset, TS.ExplicitLE)).rejects.toThrow(EndOfData);
    });
  });

  describe('truncated files', () => {
    it.each([...PLAIN, ...GENERATED_NAMES])('%s cut 1 byte short is truncated', async (name) => {
      const size = readFileSync(path(name)).length;
      await expect(check(name, cut(name, size - 1))).rejects.toThrow(EndOfData);
    });

    it.each([...PLAIN, ...GENERATED_NAMES].filter((n) => n !== 'UN_sequence.dcm' && n !== 'rtstruct.dcm'))(
      '%s cut inside the header (in the SOP Instance UID value, and inside its element header) is truncated',
      async (name) => {
        const { sopTell, sopLength } = o(name);
        if (sopTell === null || sopLength === null) {
          throw new Error(`${name} has no SOP Instance UID.`);
        }
        expect(sopLength).toBeGreaterThan(4);
        await expect(check(name, cut(name, sopTell + 3))).rejects.toThrow(EndOfData);
        await expect(check(name, cut(name, sopTell - 5))).rejects.toThrow(EndOfData);
      },
    );

    const NATIVE = [
      'CT_small.dcm',
      'MR_small_implicit.dcm',
      'MR_small_bigendian.dcm',
      'rtdose.dcm',
      ...GENERATED_NAMES,
    ];
    it.each(NATIVE)(
      '%s cut inside native Pixel Data, or right after its element header, is truncated',
      async (name) => {
        const { pixelTell, pixelLength } = o(name);
        if (pixelTell === null || pixelLength === null) {
          throw new Error(`${name} has no Pixel Data.`);
        }
        expect(pixelLength).not.toBe(UNDEFINED);
        await expect(check(name, cut(name, pixelTell + Math.floor(pixelLength / 2)))).rejects.toThrow(EndOfData);
        await expect(check(name, cut(name, pixelTell))).rejects.toThrow(EndOfData);
      },
    );

    it.each(ENCAPSULATED)(
      '%s cut inside a fragment, inside an item header, or before the sequence delimiter is truncated',
      async (name) => {
        const { pixelTell, pixelLength } = o(name);
        expect(pixelLength).toBe(UNDEFINED);
        const bytes = readFileSync(path(name));
        const { items, delimiter } = fragments(bytes, pixelTell ?? 0, true);
        const first = items[1];
        const last = items.at(-1);
        if (first === undefined || last === undefined) {
          throw new Error(`${name} has no fragment after the offset table.`);
        }
        expect(first.length).toBeGreaterThan(2);
        await expect(check(name, cut(name, first.at + 8 + Math.floor(first.length / 2)))).rejects.toThrow(EndOfData);
        await expect(check(name, cut(name, first.at + 3))).rejects.toThrow(EndOfData);
        // Every fragment whole, only the delimiter missing: an item boundary is no place to end.
        expect(delimiter).toBe(last.at + 8 + last.length);
        await expect(check(name, cut(name, delimiter))).rejects.toThrow(EndOfData);
        await expect(check(name, cut(name, delimiter + 4))).rejects.toThrow(EndOfData);
      },
    );

    it.each(['MR_truncated.dcm', 'rtplan_truncated.dcm'])("pydicom's own truncated %s is truncated", async (name) => {
      await expect(check(name, real(name))).rejects.toThrow(EndOfData);
    });

    it('cannot tell a file cut exactly at a top-level element boundary from a shorter dataset', async () => {
      // A known limit, pinned here: the cut before (7FE0,0010) leaves a well-formed dataset. The
      // watcher must also wait for the size to settle; a copy cut at an arbitrary byte is caught.
      const name = 'gen-1.2.840.10008.1.2.1';
      const { pixelTell, elements } = o(name);
      expect(await check(name, cut(name, (pixelTell ?? 0) - 12))).toEqual({ elements: elements - 1 });
    });
  });

  describe('deflated', () => {
    // A cut deflate stream ends before its final block: zlib reports Z_BUF_ERROR ("unexpected end
    // of file"), which is EndOfData; corrupt compressed data (Z_DATA_ERROR) is HeaderError.
    it('passes when only the bytes after the deflate stream (even-length padding and junk) are cut', async () => {
      const { deflateEnd } = o('image_dfl.dcm');
      if (deflateEnd === null || deflateEnd === undefined) {
        throw new Error('pydicom found no end of the deflate stream.');
      }
      expect(readFileSync(real('image_dfl.dcm')).length).toBeGreaterThan(deflateEnd);
      expect(await check('image_dfl.dcm', cut('image_dfl.dcm', deflateEnd))).toEqual({
        elements: o('image_dfl.dcm').elements,
      });
    });

    it('reports a deflate stream cut at several points as truncated (EndOfData)', async () => {
      const { offset, deflateEnd } = o('image_dfl.dcm');
      const end = deflateEnd ?? 0;
      for (const at of [offset + 1, offset + 40, Math.floor((offset + end) / 2), end - 1]) {
        await expect(check('image_dfl.dcm', cut('image_dfl.dcm', at)), `cut at ${String(at)}`).rejects.toThrow(
          EndOfData,
        );
      }
    });

    it('reports a deflate stream without its final block as truncated even when it ends on an element boundary', async () => {
      // Z_SYNC_FLUSH ends the compressed bytes exactly after the first element, but with no final
      // block: inflating yields a well-formed dataset, so only the stream itself shows the cut.
      const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
      const ds = encodeDataset([{ tag: 0x00080018, vr: 'UI', value: '1.2.3.4' }], s);
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3.4',
        transferSyntaxUid: TS.DeflatedExplicitLE,
      });
      const whole = write('dfl-whole.dcm', Buffer.concat([meta, deflateRawSync(ds)]));
      expect(await checkComplete(whole, meta.length, TS.DeflatedExplicitLE)).toEqual({ elements: 1 });
      const open = write(
        'dfl-open.dcm',
        Buffer.concat([meta, deflateRawSync(ds, { finishFlush: constants.Z_SYNC_FLUSH })]),
      );
      await expect(checkComplete(open, meta.length, TS.DeflatedExplicitLE)).rejects.toThrow(EndOfData);
    });

    it('reports corrupt deflated data as HeaderError', async () => {
      const bytes = Buffer.from(readFileSync(real('image_dfl.dcm')));
      bytes.fill(0xff, o('image_dfl.dcm').offset + 50, o('image_dfl.dcm').offset + 80);
      await expect(check('image_dfl.dcm', write('dfl-corrupt.dcm', bytes))).rejects.toThrow(HeaderError);
    });

    it('reports a whole deflate stream holding a cut dataset as truncated', async () => {
      const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
      const ds = encodeDataset(
        [
          { tag: 0x00080018, vr: 'UI', value: '1.2.3.4' },
          { tag: 0x00080060, vr: 'CS', value: 'OT' },
        ],
        s,
      );
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3.4',
        transferSyntaxUid: TS.DeflatedExplicitLE,
      });
      const file = write('dfl-short-dataset.dcm', Buffer.concat([meta, deflateRawSync(ds.subarray(0, ds.length - 1))]));
      await expect(checkComplete(file, meta.length, TS.DeflatedExplicitLE)).rejects.toThrow(EndOfData);
    });
  });

  describe('malformed data', () => {
    const name = 'gen-1.2.840.10008.1.2.1';
    /** The generated explicit-LE file up to its Pixel Data element, followed by `tail`. */
    const withTail = (label: string, tail: Buffer, source = name): string => {
      const bytes = readFileSync(path(source));
      const header = source === 'gen-1.2.840.10008.1.2.1' || source === 'gen-1.2.840.10008.1.2.2' ? 12 : 8;
      return write(`tail-${label}`, Buffer.concat([bytes.subarray(0, (o(source).pixelTell ?? 0) - header), tail]));
    };

    it('refuses garbage after a valid header (explicit VR: no VR where one must be)', async () => {
      await expect(
        check(name, withTail('text', Buffer.from('this is no DICOM element, just text '.repeat(20)))),
      ).rejects.toThrow(HeaderError);
    });

    it('refuses an element whose tag does not ascend (implicit VR, where garbage has no VR to betray it)', async () => {
      const ile = 'gen-1.2.840.10008.1.2';
      const lower = encodeDataset(
        [{ tag: 0x00080060, vr: 'CS', value: 'CT' }],
        syntaxOf(TransferSyntax.ImplicitVRLittleEndian),
      );
      await expect(check(ile, withTail('lower', lower, ile))).rejects.toThrow(HeaderError);
    });

    it('refuses a repeated tag', async () => {
      const pixel: Element = { tag: 0x7fe00010, vr: 'OW', value: new Uint8Array(8) };
      const twice = Buffer.concat([
        encodeDataset([pixel], syntaxOf(TransferSyntax.ExplicitVRLittleEndian)),
        encodeDataset([pixel], syntaxOf(TransferSyntax.ExplicitVRLittleEndian)),
      ]);
      await expect(check(name, withTail('twice', twice))).rejects.toThrow(HeaderError);
    });

    it('refuses an item or delimiter at the top level', async () => {
      const item = Buffer.from('feff00e000000000', 'hex');
      await expect(check(name, withTail('item', item))).rejects.toThrow(HeaderError);
    });

    it('refuses encapsulated pixel data whose items are not items', async () => {
      const pixel = Buffer.concat([
        elementHeader(0x7fe00010, 'OB', UNDEFINED, syntaxOf(TransferSyntax.ExplicitVRLittleEndian)),
        Buffer.from('0800160000000000', 'hex'),
      ]);
      await expect(check(name, withTail('not-items', pixel))).rejects.toThrow(HeaderError);
    });

    it('refuses an empty dataset and an unsupported transfer syntax', async () => {
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3',
        transferSyntaxUid: TS.ExplicitLE,
      });
      const empty = write('empty.dcm', meta);
      await expect(checkComplete(empty, meta.length, TS.ExplicitLE)).rejects.toThrow(HeaderError);
      await expect(checkComplete(path(name), o(name).offset, '1.2.3.4.5.6')).rejects.toThrow(HeaderError);
    });

    it('refuses SC_rgb_jpeg.dcm, whose meta says explicit VR over an implicit-VR dataset (pydicom guesses and reads it)', async () => {
      expect(o('SC_rgb_jpeg.dcm').elements).toBeGreaterThan(10);
      await expect(check('SC_rgb_jpeg.dcm', real('SC_rgb_jpeg.dcm'))).rejects.toThrow(HeaderError);
    });
  });
});
