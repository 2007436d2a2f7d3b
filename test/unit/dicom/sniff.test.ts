import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndOfData } from '../../../src/dicom/byte-source.ts';
import { buildPart10Header } from '../../../src/dicom/part10.ts';
import { HeaderError } from '../../../src/dicom/elements.ts';
import { readDicomdirReferences } from '../../../src/dicom/dicomdir.ts';
import { SNIFF_BYTES, sniffFile, sniffHead } from '../../../src/dicom/sniff.ts';
import type { Sniffed } from '../../../src/dicom/sniffed.ts';
import { TS } from '../../../src/dicom/transfer-syntax.ts';
import {
  elementHeader,
  encodeDataset,
  encodeElement,
  encodeFileMeta,
  syntaxOf,
  TransferSyntax,
  type Element,
} from '../../helpers/dicom-encoder.ts';
import { encodeInstance, writeInstance, type TransferSyntaxUid } from '../../helpers/dicom-factory.ts';

const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const MEDIA_STORAGE_DIRECTORY = '1.2.840.10008.1.3.10';

// pydicom (python3-pydicom 2.x) is the independent reader. For each file: where its dataset
// starts (pydicom's own preamble/meta reader), the meta's UIDs and syntax, the dataset's UIDs and
// encoding, and for a DICOMDIR the Referenced File IDs of its Directory Record Sequence.
const ORACLE = `
import json, sys, warnings
warnings.simplefilter('ignore')
import pydicom
from pydicom.filereader import read_preamble, _read_file_meta_info
from pydicom.multival import MultiValue
out = {}
for p in sys.argv[1:]:
    r = {}
    try:
        with open(p, 'rb') as fp:
            r['hasPreamble'] = read_preamble(fp, True) is not None
            meta = _read_file_meta_info(fp)
            r['offset'] = fp.tell()
        r['metaTs'] = str(meta.get('TransferSyntaxUID', '') or '')
        r['metaClass'] = str(meta.get('MediaStorageSOPClassUID', '') or '')
        r['metaInstance'] = str(meta.get('MediaStorageSOPInstanceUID', '') or '')
        ds = pydicom.dcmread(p, force=True, stop_before_pixels=True)
        r['class'] = str(ds.get('SOPClassUID', '') or '')
        r['instance'] = str(ds.get('SOPInstanceUID', '') or '')
        r['study'] = str(ds.get('StudyInstanceUID', '') or '')
        r['series'] = str(ds.get('SeriesInstanceUID', '') or '')
        r['implicit'] = ds.is_implicit_VR
        r['littleEndian'] = ds.is_little_endian
        refs = []
        for rec in (ds.get('DirectoryRecordSequence') or []):
            v = rec.get('ReferencedFileID')
            if v is not None:
                refs.append('/'.join(v) if isinstance(v, MultiValue) else str(v))
        r['refs'] = refs
    except Exception as e:
        r['error'] = repr(e)
    out[p] = r
print(json.dumps(out))
`;

interface Oracle {
  readonly hasPreamble: boolean;
  readonly offset: number;
  readonly metaTs: string;
  readonly metaClass: string;
  readonly metaInstance: string;
  readonly class: string;
  readonly instance: string;
  readonly study: string;
  readonly series: string;
  readonly implicit: boolean;
  readonly littleEndian: boolean;
  readonly refs: readonly string[];
  readonly error?: string;
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

/** Part 10 files of several syntaxes, with and without TIFF-like preambles, whose meta holds the SOP UIDs. */
const REAL_PART10 = [
  'CT_small.dcm', // explicit VR LE, "II*" preamble
  'MR_small_implicit.dcm', // implicit VR LE
  'MR_small_bigendian.dcm', // explicit VR BE
  'ExplVR_BigEnd.dcm', // explicit VR BE
  'image_dfl.dcm', // deflated explicit VR LE
  'JPEG2000.dcm', // encapsulated JPEG 2000
  'SC_rgb_jpeg_dcmtk.dcm', // encapsulated JPEG baseline
  'MR_small_RLE.dcm', // RLE
  'rtplan.dcm', // RT plan, implicit VR LE
  'rtdose.dcm', // RT dose, multi-frame
  'liver_1frame.dcm', // segmentation
  'waveform_ecg.dcm', // ~290 KB: larger than the head
  'priv_SQ.dcm', // meta has the UIDs, the dataset only private sequences
  'UN_sequence.dcm', // meta has the UIDs, the dataset one UN sequence
];
/** Bare datasets without preamble and meta, as pydicom ships them. */
const REAL_BARE = ['rtstruct.dcm', 'ExplVR_LitEndNoMeta.dcm', 'ExplVR_BigEndNoMeta.dcm'];
/** DICOM files in which neither the meta nor the dataset holds a SOP Instance UID (pydicom agrees): recognised, not usable. */
const REAL_INVALID = [
  'empty_charset_LEI.dcm', // meta without media storage UIDs, dataset without SOP UIDs
  'nested_priv_SQ.dcm', // empty media storage UIDs, dataset of private sequences
  'meta_missing_tsyntax.dcm', // empty media storage UIDs, no transfer syntax
];
/** Files that are no DICOM at all. */
const REAL_NOT_DICOM = ['README.txt', 'rtplan.dump', 'test1.json', 'zipMR.gz'];
const DICOMDIRS = [
  'dicomdirtests/DICOMDIR',
  'dicomdirtests/DICOMDIR-bigEnd',
  'dicomdirtests/DICOMDIR-implicit',
  'dicomdirtests/DICOMDIR-reordered',
  'dicomdirtests/DICOMDIR-nopatient',
  'dicomdirtests/DICOMDIR-empty.dcm',
  'dicomdirtests/TINY_ALPHA/DICOMDIR',
];
const NOOFFSET = 'dicomdirtests/DICOMDIR-nooffset';

const real = (name: string): string => join(PYDICOM_DIR, name);

/** The transfer syntax pydicom found a bare dataset in. */
function bareTs(o: Oracle): string {
  if (o.implicit) {
    return TS.ImplicitLE;
  }
  return o.littleEndian ? TS.ExplicitLE : TS.ExplicitBE;
}

describe('sniff', () => {
  let dir: string;
  let oracle: Record<string, Oracle>;

  const file = (name: string, bytes: Buffer | string): string => {
    const path = join(dir, name);
    writeFileSync(path, bytes);
    return path;
  };

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-sniff-'));
    oracle = pydicom(
      [...REAL_PART10, ...REAL_BARE, ...REAL_INVALID, ...REAL_NOT_DICOM, ...DICOMDIRS, NOOFFSET].map(real),
    );
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const o = (name: string): Oracle => {
    const r = oracle[real(name)];
    if (r === undefined || r.error !== undefined) {
      throw new Error(`pydicom could not read ${name}: ${r?.error ?? 'missing'}`);
    }
    return r;
  };

  describe('generated files', () => {
    const SYNTAXES: readonly TransferSyntaxUid[] = [
      TransferSyntax.ExplicitVRLittleEndian,
      TransferSyntax.ImplicitVRLittleEndian,
      TransferSyntax.ExplicitVRBigEndian,
    ];

    it.each(SYNTAXES)('recognises a Part 10 file in %s with its UIDs and dataset offset', async (ts) => {
      const info = await writeInstance(join(dir, `gen-${ts}.dcm`), { transferSyntax: ts });
      const metaLength = encodeFileMeta({ ...info, transferSyntax: ts }).length;
      const expected: Sniffed = {
        kind: 'part10',
        transferSyntaxUid: ts,
        sopClassUid: info.sopClassUid,
        sopInstanceUid: info.sopInstanceUid,
        datasetOffset: metaLength,
      };
      expect(await sniffFile(info.path)).toEqual(expected);
      expect(await sniffHead(readFileSync(info.path), true)).toEqual(expected);
    });

    it.each(SYNTAXES)('recognises the bare dataset left after stripping preamble and meta (%s)', async (ts) => {
      const inst = encodeInstance({ transferSyntax: ts });
      const bare = inst.bytes.subarray(encodeFileMeta({ ...inst, transferSyntax: ts }).length);
      // The strip cut at the first dataset element, (0008,0005), in the dataset's byte order.
      const u16 = (at: number): number => (ts === TS.ExplicitBE ? bare.readUInt16BE(at) : bare.readUInt16LE(at));
      expect([u16(0), u16(2)]).toEqual([0x0008, 0x0005]);
      const path = file(`bare-${ts}.dcm`, bare);
      const expected: Sniffed = {
        kind: 'bare',
        transferSyntaxUid: ts,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: 0,
      };
      expect(await sniffFile(path)).toEqual(expected);
      expect(await sniffHead(bare, true)).toEqual(expected);
      expect(pydicom([path])[path]).toMatchObject({ instance: inst.sopInstanceUid, class: inst.sopClassUid });
    });

    it.each(SYNTAXES)('recognises File Meta Information written without preamble (%s)', async (ts) => {
      const inst = encodeInstance({ transferSyntax: ts });
      const withoutPreamble = inst.bytes.subarray(132);
      expect(withoutPreamble.readUInt16LE(0)).toBe(0x0002);
      const path = file(`nopreamble-${ts}.dcm`, withoutPreamble);
      const metaLength = encodeFileMeta({ ...inst, transferSyntax: ts }).length;
      const expected: Sniffed = {
        kind: 'part10',
        transferSyntaxUid: ts,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: metaLength - 132,
      };
      expect(await sniffFile(path)).toEqual(expected);
      expect(await sniffHead(withoutPreamble, true)).toEqual(expected);
    });

    it('reads the SOP UIDs from the dataset when the meta leaves them empty', async () => {
      const inst = encodeInstance({ transferSyntax: TransferSyntax.ImplicitVRLittleEndian });
      const meta = buildPart10Header({ sopClassUid: '', sopInstanceUid: '', transferSyntaxUid: TS.ImplicitLE });
      const dataset = inst.bytes.subarray(encodeFileMeta({ ...inst, transferSyntax: TS.ImplicitLE }).length);
      const path = file('empty-meta-uids.dcm', Buffer.concat([meta, dataset]));
      const expected: Sniffed = {
        kind: 'part10',
        transferSyntaxUid: TS.ImplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: meta.length,
      };
      expect(await sniffFile(path)).toEqual(expected);
      expect(await sniffHead(readFileSync(path), true)).toEqual(expected);
    });

    it('reads a deflated dataset for missing meta UIDs from the file, not from the head alone', async () => {
      const inst = encodeInstance({ transferSyntax: TransferSyntax.ExplicitVRLittleEndian });
      const dataset = inst.bytes.subarray(encodeFileMeta({ ...inst, transferSyntax: TS.ExplicitLE }).length);
      const meta = buildPart10Header({ sopClassUid: '', sopInstanceUid: '', transferSyntaxUid: TS.DeflatedExplicitLE });
      const path = file('deflated-no-meta-uids.dcm', Buffer.concat([meta, deflateRawSync(dataset)]));
      expect(await sniffFile(path)).toEqual({
        kind: 'part10',
        transferSyntaxUid: TS.DeflatedExplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: meta.length,
      });
      const head = await sniffHead(readFileSync(path), true);
      expect(head.kind).toBe('invalid');
      expect(head.kind === 'invalid' ? head.reason : '').toMatch(/SOP Instance UID.*deflated/);
    });

    it('looks beyond the head in sniffFile when the meta lacks UIDs and the dataset puts them after 64 KiB', async () => {
      // InstanceCreatorUID (0008,0014) as a 70 KB UN value pushes (0008,0016)/(0008,0018) out of the head.
      const big: Element = { tag: 0x00080014, vr: 'UN', value: new Uint8Array(70_000) };
      const inst = encodeInstance({ extraElements: [big] });
      const dataset = inst.bytes.subarray(encodeFileMeta({ ...inst, transferSyntax: TS.ExplicitLE }).length);
      const meta = buildPart10Header({ sopClassUid: '', sopInstanceUid: '', transferSyntaxUid: TS.ExplicitLE });
      const path = file('uids-after-head.dcm', Buffer.concat([meta, dataset]));
      expect(await sniffFile(path)).toEqual({
        kind: 'part10',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: meta.length,
      });
      const head = await sniffHead(readFileSync(path).subarray(0, SNIFF_BYTES), false);
      expect(head).toEqual({
        kind: 'invalid',
        reason: `DICOM file without SOP Instance UID in its File Meta Information (not within the first ${String(SNIFF_BYTES)} bytes)`,
      });

      const bare = file('bare-uids-after-head.dcm', dataset);
      expect(await sniffFile(bare)).toEqual({
        kind: 'bare',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: 0,
      });
      expect((await sniffHead(dataset.subarray(0, SNIFF_BYTES), false)).kind).toBe('not-dicom');
    });

    it('reads a File Meta Information larger than the head from the file', async () => {
      const inst = encodeInstance();
      const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
      const body = encodeDataset(
        [
          { tag: 0x00020001, vr: 'OB', value: Uint8Array.of(0, 1) },
          { tag: 0x00020002, vr: 'UI', value: inst.sopClassUid },
          { tag: 0x00020003, vr: 'UI', value: inst.sopInstanceUid },
          { tag: 0x00020010, vr: 'UI', value: TS.ExplicitLE },
          // Private Information (0002,0102): 100 KB, so the meta alone outgrows the head.
          { tag: 0x00020102, vr: 'OB', value: new Uint8Array(100_000) },
        ],
        s,
      );
      const meta = Buffer.concat([
        Buffer.alloc(128),
        Buffer.from('DICM'),
        encodeElement({ tag: 0x00020000, vr: 'UL', value: body.length }, s),
        body,
      ]);
      const dataset = inst.bytes.subarray(encodeFileMeta({ ...inst, transferSyntax: TS.ExplicitLE }).length);
      const path = file('big-meta.dcm', Buffer.concat([meta, dataset]));
      expect(await sniffFile(path)).toEqual({
        kind: 'part10',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: meta.length,
      });
      const head = await sniffHead(readFileSync(path).subarray(0, SNIFF_BYTES), false);
      expect(head.kind).toBe('invalid');
    });

    it('returns part10 for a transfer syntax it cannot decode when the meta names the instance', async () => {
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3.4',
        transferSyntaxUid: '1.2.3.4.5.6',
      });
      const path = file('private-ts.dcm', Buffer.concat([meta, Buffer.alloc(64, 0xab)]));
      expect(await sniffFile(path)).toEqual({
        kind: 'part10',
        transferSyntaxUid: '1.2.3.4.5.6',
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '1.2.3.4',
        datasetOffset: meta.length,
      });
    });

    it('names the transfer syntax when it cannot decode it and the meta lacks the instance UID', async () => {
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '',
        transferSyntaxUid: '1.2.3.4.5.6',
      });
      const s = await sniffFile(file('private-ts-no-uid.dcm', Buffer.concat([meta, Buffer.alloc(64, 0xab)])));
      expect(s.kind).toBe('invalid');
      expect(s.kind === 'invalid' ? s.reason : '').toContain('1.2.3.4.5.6');
    });

    it('recognises, but refuses, a Part 10 file whose meta and dataset both lack the SOP Instance UID', async () => {
      const meta = buildPart10Header({
        sopClassUid: '1.2.840.10008.5.1.4.1.1.7',
        sopInstanceUid: '',
        transferSyntaxUid: TS.ExplicitLE,
      });
      const ds = encodeDataset(
        [{ tag: 0x00080060, vr: 'CS', value: 'OT' }],
        syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
      );
      expect(await sniffFile(file('no-instance.dcm', Buffer.concat([meta, ds])))).toEqual({
        kind: 'invalid',
        reason: 'DICOM file without SOP Instance UID',
      });
    });

    it('recognises, but refuses, a bare dataset without study and series UIDs', async () => {
      const ds = encodeDataset(
        [
          { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' },
          { tag: 0x00080018, vr: 'UI', value: '1.2.3.4' },
        ],
        syntaxOf(TransferSyntax.ImplicitVRLittleEndian),
      );
      expect(await sniffHead(ds, true)).toEqual({
        kind: 'invalid',
        reason: 'DICOM dataset without StudyInstanceUID or SeriesInstanceUID',
      });
    });

    it('reads a bare dataset after a few stray bytes, and only one that names its instance', async () => {
      const inst = encodeInstance({ omitFileMeta: true });
      const stray = Buffer.concat([Buffer.from([0x20, 0x00, 0x7f]), inst.bytes]);
      expect(await sniffHead(stray, true)).toEqual({
        kind: 'bare',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: inst.sopClassUid,
        sopInstanceUid: inst.sopInstanceUid,
        datasetOffset: 3,
      });
      expect((await sniffHead(Buffer.concat([Buffer.alloc(16, 0x20), inst.bytes]), true)).kind).toBe('not-dicom');
    });
  });

  describe('pydicom test files', () => {
    it.each(REAL_PART10)('%s: part10 with the syntax, UIDs and dataset offset pydicom finds', async (name) => {
      const r = o(name);
      const expected: Sniffed = {
        kind: 'part10',
        transferSyntaxUid: r.metaTs,
        sopClassUid: r.metaClass || r.class,
        sopInstanceUid: r.metaInstance || r.instance,
        datasetOffset: r.offset,
      };
      expect(await sniffFile(real(name))).toEqual(expected);
      const bytes = readFileSync(real(name));
      expect(await sniffHead(bytes.subarray(0, SNIFF_BYTES), bytes.length <= SNIFF_BYTES)).toEqual(expected);
    });

    it('CT_small.dcm: the values we know by heart', async () => {
      expect(await sniffFile(real('CT_small.dcm'))).toEqual({
        kind: 'part10',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        sopInstanceUid: o('CT_small.dcm').instance,
        datasetOffset: 336,
      });
    });

    it.each(REAL_BARE)('%s: a bare dataset in the syntax pydicom detects, with its UIDs', async (name) => {
      const r = o(name);
      expect(r.hasPreamble).toBe(false);
      const expected: Sniffed = {
        kind: 'bare',
        transferSyntaxUid: bareTs(r),
        sopClassUid: r.class,
        sopInstanceUid: r.instance,
        datasetOffset: 0,
      };
      expect(await sniffFile(real(name))).toEqual(expected);
      expect(await sniffHead(readFileSync(real(name)), true)).toEqual(expected);
    });

    it.each(REAL_INVALID)('%s: DICOM it cannot take, and pydicom finds no SOP Instance UID either', async (name) => {
      const r = oracle[real(name)];
      expect(r?.metaInstance ?? '').toBe('');
      expect(r?.instance ?? '').toBe('');
      const s = await sniffFile(real(name));
      expect(s.kind === 'invalid' ? s.reason : s.kind).toMatch(/^DICOM file without SOP Instance UID/);
    });

    it("no_meta.dcm: CT_small's dataset after a stray byte, read from byte 1 (pydicom needs force and reads nonsense)", async () => {
      expect(await sniffFile(real('no_meta.dcm'))).toEqual({
        kind: 'bare',
        transferSyntaxUid: TS.ExplicitLE,
        sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
        sopInstanceUid: o('CT_small.dcm').instance,
        datasetOffset: 1,
      });
    });

    it.each(REAL_NOT_DICOM)('%s: not DICOM, and pydicom finds no SOP Instance UID either', async (name) => {
      const r = oracle[real(name)];
      expect(r?.metaInstance ?? '').toBe('');
      expect(r?.instance ?? '').toBe('');
      expect((await sniffFile(real(name))).kind).toBe('not-dicom');
    });

    it.each(DICOMDIRS)('%s: a DICOMDIR whose Referenced File IDs are the ones pydicom lists', async (name) => {
      const r = o(name);
      expect(r.metaClass).toBe(MEDIA_STORAGE_DIRECTORY);
      expect(await sniffFile(real(name))).toEqual({ kind: 'dicomdir', datasetOffset: r.offset });
      expect(await readDicomdirReferences(real(name))).toEqual(r.refs);
    });

    it('lists the 31 images of the dcmmkdir DICOMDIR, in record order', async () => {
      const refs = await readDicomdirReferences(real('dicomdirtests/DICOMDIR'));
      expect(refs).toHaveLength(31);
      expect(refs[0]).toBe('77654033/CR1/6154');
    });

    it('refuses DICOMDIR-nooffset, whose item lengths overrun the file (pydicom tolerates them)', async () => {
      // Made by deleting elements without fixing the defined item lengths: the last record claims
      // 24 bytes more than the file holds. Structurally that is a cut file, so EndOfData.
      expect(o(NOOFFSET).refs).toHaveLength(31);
      await expect(readDicomdirReferences(real(NOOFFSET))).rejects.toThrow(EndOfData);
    });
  });

  describe('DICOMDIR walker', () => {
    const record = (id: readonly string[], nested: readonly Element[] = []): Element[] => [
      { tag: 0x00041400, vr: 'UL', value: 0 },
      { tag: 0x00041430, vr: 'CS', value: 'IMAGE' },
      { tag: 0x00041500, vr: 'CS', value: id },
      ...nested,
    ];

    function dicomdir(ts: TransferSyntaxUid, undefinedLength: boolean): Buffer {
      const inner: Element = {
        tag: 0x0040a730, // ContentSequence, holding a record-like item with its own file ID
        vr: 'SQ',
        undefinedLength,
        items: [
          [
            { tag: 0x00041500, vr: 'CS', value: ['DEEP', 'FILE'] },
            { tag: 0x00080100, vr: 'SH', value: 'X' },
          ],
        ],
      };
      const ds = encodeDataset(
        [
          { tag: 0x00041130, vr: 'CS', value: 'TEST' },
          {
            tag: 0x00041220,
            vr: 'SQ',
            undefinedLength,
            items: [record(['A']), record(['B', 'C1'], [inner]), record(['D', 'E', 'F12345'])],
          },
        ],
        syntaxOf(ts),
      );
      const meta = buildPart10Header({
        sopClassUid: MEDIA_STORAGE_DIRECTORY,
        sopInstanceUid: '1.2.3',
        transferSyntaxUid: ts,
      });
      return Buffer.concat([meta, ds]);
    }

    it.each([
      [TransferSyntax.ExplicitVRLittleEndian, false],
      [TransferSyntax.ExplicitVRLittleEndian, true],
      [TransferSyntax.ImplicitVRLittleEndian, false],
      [TransferSyntax.ImplicitVRLittleEndian, true],
      [TransferSyntax.ExplicitVRBigEndian, false],
      [TransferSyntax.ExplicitVRBigEndian, true],
    ] as const)('collects file IDs at every depth (%s, undefined length %s)', async (ts, undef) => {
      const path = file(`dir-${ts}-${String(undef)}`, dicomdir(ts, undef));
      expect((await sniffFile(path)).kind).toBe('dicomdir');
      const expected = ['A', 'B/C1', 'DEEP/FILE', 'D/E/F12345'];
      expect(await readDicomdirReferences(path)).toEqual(expected);
    });

    it('skips the fragments of an encapsulated icon image instead of reading them as a dataset', async () => {
      const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
      const hex = (h: string): Buffer => Buffer.from(h.replaceAll(' ', ''), 'hex');
      const item = (body: Buffer): Buffer => Buffer.concat([hex('feff00e0 ffffffff'), body, hex('feff0de0 00000000')]);
      const seqEnd = hex('feffdde0 00000000');
      // Icon Image Sequence (0088,0200) > Pixel Data (7FE0,0010) OB, undefined length: an empty
      // offset table and one JPEG fragment, whose bytes are no element headers.
      const pixel = Buffer.concat([
        elementHeader(0x7fe00010, 'OB', 0xffffffff, s),
        hex('feff00e0 00000000'),
        hex('feff00e0 08000000 ffd8ffe0 00104a46'),
        seqEnd,
      ]);
      const icon = Buffer.concat([elementHeader(0x00880200, 'SQ', 0xffffffff, s), item(pixel), seqEnd]);
      const records = Buffer.concat([
        item(Buffer.concat([encodeDataset(record(['WITH', 'ICON']), s), icon])),
        item(encodeDataset(record(['AFTER']), s)),
      ]);
      const ds = Buffer.concat([elementHeader(0x00041220, 'SQ', 0xffffffff, s), records, seqEnd]);
      const meta = buildPart10Header({
        sopClassUid: MEDIA_STORAGE_DIRECTORY,
        sopInstanceUid: '1.2.3',
        transferSyntaxUid: TS.ExplicitLE,
      });
      const path = file('dir-icon', Buffer.concat([meta, ds]));
      expect(pydicom([path])[path]?.refs).toEqual(['WITH/ICON', 'AFTER']);
      expect(await readDicomdirReferences(path)).toEqual(['WITH/ICON', 'AFTER']);
    });

    it('reports a DICOMDIR cut inside a record as truncated', async () => {
      const bytes = dicomdir(TransferSyntax.ExplicitVRLittleEndian, true);
      const path = file('dir-cut', bytes.subarray(0, bytes.indexOf('D\\E') + 2));
      await expect(readDicomdirReferences(path)).rejects.toThrow(EndOfData);
    });

    it('refuses a file that is not a DICOMDIR', async () => {
      await expect(readDicomdirReferences(real('CT_small.dcm'))).rejects.toThrow(HeaderError);
    });

    it('refuses a DICOMDIR larger than 256 MiB without reading it', async () => {
      const path = file('dir-huge', dicomdir(TransferSyntax.ExplicitVRLittleEndian, true));
      // Sparse: the size is what counts, no disk space is used.
      truncateSync(path, 256 * 1024 * 1024 + 1);
      await expect(readDicomdirReferences(path)).rejects.toThrow(/256 MiB/);
    });
  });

  describe('not DICOM', () => {
    const jpeg = Buffer.concat([
      Buffer.from('ffd8ffe000104a46494600010101004800480000', 'hex'),
      Buffer.alloc(300, 0x11),
    ]);
    const zip = Buffer.concat([Buffer.from('504b0304140000000800', 'hex'), Buffer.alloc(300, 0x22)]);
    const garbageMeta = Buffer.concat([
      Buffer.alloc(128),
      Buffer.from('DICM'),
      Buffer.from('\x02\x00\x10\x00XXgarbage that is no meta at all '.repeat(4), 'latin1'),
    ]);
    const randomMeta = Buffer.concat([
      Buffer.alloc(128),
      Buffer.from('DICM'),
      Buffer.from(Array.from({ length: 400 }, (_, i) => (i * 97 + 13) % 256)),
    ]);
    // DICM at byte 128 says the file means to be DICOM: it is recognised, and refused as unusable.
    const marked: readonly (readonly [string, Buffer])[] = [
      ['DICM with garbage meta', garbageMeta],
      ['DICM with random bytes', randomMeta],
      ['DICM and nothing else', Buffer.concat([Buffer.alloc(128), Buffer.from('DICM')])],
    ];
    const cases: readonly (readonly [string, Buffer])[] = [
      ['text', Buffer.from('Hello, this is a plain text file.\nIt has lines.\n'.repeat(10))],
      ['XML', Buffer.from('<?xml version="1.0" encoding="UTF-8"?>\n<root><a>1</a></root>\n')],
      ['JPEG', jpeg],
      ['zip', zip],
      ['empty file', Buffer.alloc(0)],
      ['7 bytes', Buffer.from([0x08, 0x00, 0x16, 0x00, 0x55, 0x49, 0x02])],
      [
        'a group 0008 start and nonsense',
        Buffer.concat([Buffer.from([0x08, 0x00, 0x05, 0x00]), Buffer.alloc(200, 0xee)]),
      ],
    ];

    it.each(cases)('%s', async (name, bytes) => {
      const path = file(`not-${name.replaceAll(' ', '-')}`, bytes);
      const s = await sniffFile(path);
      expect(s.kind).toBe('not-dicom');
      expect(await sniffHead(bytes, true)).toEqual(s);
    });

    it.each(marked)('%s: DICOM that cannot be used', async (name, bytes) => {
      const path = file(`bad-${name.replaceAll(' ', '-')}`, bytes);
      const s = await sniffFile(path);
      expect(s.kind).toBe('invalid');
      expect(await sniffHead(bytes, true)).toEqual(s);
    });

    it('gives the reasons callers log', async () => {
      expect(await sniffHead(Buffer.alloc(0), true)).toEqual({ kind: 'not-dicom', reason: 'empty or too short' });
      expect(await sniffHead(jpeg, true)).toEqual({
        kind: 'not-dicom',
        reason: 'not DICOM (no preamble, no recognisable dataset)',
      });
      expect(await sniffHead(zip, true)).toEqual({
        kind: 'not-dicom',
        reason: 'not DICOM (no preamble, no recognisable dataset)',
      });
    });

    it('refuses a Part 10 file cut inside its File Meta Information', async () => {
      const bytes = readFileSync(real('CT_small.dcm'));
      expect(await sniffHead(bytes.subarray(0, 200), true)).toEqual({
        kind: 'invalid',
        reason: 'DICM marker, but the File Meta Information is cut short',
      });
    });
  });
});
