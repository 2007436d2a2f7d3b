import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EndOfData } from '../../../src/dicom/byte-source.ts';
import { buildPart10Header, parsePart10Header } from '../../../src/dicom/part10.ts';
import { HeaderError } from '../../../src/dicom/elements.ts';
import { readHeader, readHeaderPrefix, Tag, type Header } from '../../../src/dicom/read.ts';
import { TS } from '../../../src/dicom/transfer-syntax.ts';
import { encodeDataset, syntaxOf, TransferSyntax, type Element } from '../../helpers/dicom-encoder.ts';

// pydicom (python3-pydicom) is the oracle: for each file it reports the raw bytes of the wanted
// top-level elements, with the same padding trim readHeader applies (trailing NUL/space, leading space).
const PYDICOM_DIR = '/usr/lib/python3/dist-packages/pydicom/data/test_files';
const ORACLE = `
import json, sys, pydicom
tags = json.loads(sys.argv[1])
out = {}
for p in sys.argv[2:]:
    ds = pydicom.dcmread(p, force=True, stop_before_pixels=True)
    r = {}
    for name, tag in tags.items():
        if tag in ds:
            v = ds.get_item(tag).value
            raw = v if isinstance(v, bytes) else (b'' if v is None else str(v).encode('latin1'))
            r[name] = raw.decode('latin1').rstrip('\\x00 ').lstrip(' ')
    out[p] = r
print(json.dumps(out))
`;

function pydicomHeaders(paths: readonly string[]): Record<string, Header> {
  try {
    const out = execFileSync('/usr/bin/python3', ['-c', ORACLE, JSON.stringify(Tag), ...paths], {
      encoding: 'utf8',
      timeout: 60_000,
    });
    return JSON.parse(out) as Record<string, Header>;
  } catch (err) {
    throw new Error(
      `The pydicom oracle failed; install python3-pydicom (apt-get install python3-pydicom). ${String(err)}`,
      { cause: err },
    );
  }
}

/** readHeader of a whole Part 10 file (or a bare implicit-LE dataset when there is no "DICM"). */
async function readFile(path: string): Promise<Header> {
  const meta = parsePart10Header(readFileSync(path).subarray(0, 64 * 1024));
  return readHeader(path, meta?.datasetOffset ?? 0, meta?.transferSyntaxUid ?? TS.ImplicitLE);
}

const STUDY = '1.2.826.0.1.3680043.8.498.100';
const SERIES = '1.2.826.0.1.3680043.8.498.100.1';
const DECOY = '1.2.826.0.1.3680043.8.498.999';

/** A dataset whose top-level UIDs follow nested undefined-length sequences holding decoy UIDs. */
function nestedDataset(): Element[] {
  const inner: Element[] = [
    { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
    { tag: 0x00081155, vr: 'UI', value: DECOY },
    { tag: 0x0020000e, vr: 'UI', value: DECOY },
  ];
  return [
    { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
    { tag: 0x00080018, vr: 'UI', value: '1.2.826.0.1.3680043.8.498.100.1.1' },
    { tag: 0x00080060, vr: 'CS', value: 'CT' },
    {
      tag: 0x00081115,
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          { tag: 0x00081199, vr: 'SQ', undefinedLength: true, items: [inner, inner] },
          { tag: 0x0020000d, vr: 'UI', value: DECOY },
        ],
      ],
    },
    { tag: 0x00081140, vr: 'SQ', items: [inner] },
    { tag: 0x0020000d, vr: 'UI', value: STUDY },
    { tag: 0x0020000e, vr: 'UI', value: SERIES },
    { tag: 0x00200011, vr: 'IS', value: '7' },
    { tag: 0x00200013, vr: 'IS', value: ' 12' },
  ];
}

/** Sequences nested `depth` levels deep, each with undefined length. */
function deepSequence(depth: number): Element {
  let e: Element = { tag: 0x00081150, vr: 'UI', value: '1.2.3' };
  for (let i = 0; i < depth; i++) {
    e = { tag: 0x00081115, vr: 'SQ', undefinedLength: true, items: [[e]] };
  }
  return e;
}

describe('readHeader', () => {
  let dir: string;
  let oracle: Record<string, Header>;
  const synthetic: Record<string, string> = {};

  function writePart10(name: string, transferSyntaxUid: string, dataset: Buffer): string {
    const path = join(dir, name);
    const header = buildPart10Header({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUid: '1.2.3.4',
      transferSyntaxUid,
    });
    writeFileSync(path, Buffer.concat([header, dataset]));
    return path;
  }

  const REAL = [
    'CT_small.dcm', // explicit VR LE
    'MR_small_implicit.dcm', // implicit VR LE
    'MR_small_bigendian.dcm', // explicit VR BE
    'image_dfl.dcm', // deflated explicit VR LE
    'rtplan.dcm', // implicit VR LE, sequences, no InstanceNumber
    'rtstruct.dcm', // bare dataset without File Meta
    'JPEG2000.dcm', // encapsulated pixel data
    'test-SR.dcm', // nested sequences
    'MR_truncated.dcm', // truncated inside pixel data, after the header
    'UN_sequence.dcm', // UN with undefined length holding nested sequences with UIDs
    'nested_priv_SQ.dcm', // nested private undefined-length sequences, then pixel data
  ];

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-read-'));
    const ds = nestedDataset();
    const ele = encodeDataset(ds, syntaxOf(TransferSyntax.ExplicitVRLittleEndian));
    synthetic.implicit = writePart10(
      'nested-ile.dcm',
      TS.ImplicitLE,
      encodeDataset(ds, syntaxOf(TransferSyntax.ImplicitVRLittleEndian)),
    );
    synthetic.explicit = writePart10('nested-ele.dcm', TS.ExplicitLE, ele);
    synthetic.bigEndian = writePart10(
      'nested-ebe.dcm',
      TS.ExplicitBE,
      encodeDataset(ds, syntaxOf(TransferSyntax.ExplicitVRBigEndian)),
    );
    synthetic.deflated = writePart10('nested-dfl.dcm', TS.DeflatedExplicitLE, deflateRawSync(ele));
    // UN_sequence.dcm's UN element (undefined length, implicit-LE content with nested UIDs), moved
    // to private tag (0009,100C) so it precedes the top-level Study/Series UIDs.
    const un = readFileSync(join(PYDICOM_DIR, 'UN_sequence.dcm'));
    const unElement = Buffer.from(un.subarray(parsePart10Header(un)?.datasetOffset ?? 0));
    unElement.writeUInt16LE(0x0009, 0);
    const top = encodeDataset(
      [
        { tag: 0x0020000d, vr: 'UI', value: STUDY },
        { tag: 0x0020000e, vr: 'UI', value: SERIES },
      ],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    const head = encodeDataset(
      [{ tag: 0x00080060, vr: 'CS', value: 'CT' }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    synthetic.un = writePart10('un-before-uids.dcm', TS.ExplicitLE, Buffer.concat([head, unElement, top]));
    synthetic.deep = writePart10(
      'deep-10.dcm',
      TS.ExplicitLE,
      encodeDataset(
        [deepSequence(10), { tag: 0x0020000d, vr: 'UI', value: STUDY }],
        syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
      ),
    );
    oracle = pydicomHeaders([...REAL.map((f) => join(PYDICOM_DIR, f)), ...Object.values(synthetic)]);
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('reads the values pydicom reports from CT_small.dcm, which we also know by heart', async () => {
    const h = await readFile(join(PYDICOM_DIR, 'CT_small.dcm'));
    expect(h).toEqual(oracle[join(PYDICOM_DIR, 'CT_small.dcm')]);
    expect(h).toMatchObject({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
      Modality: 'CT',
      StudyInstanceUID: '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322',
      SeriesInstanceUID: '1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322',
      InstanceNumber: '1',
    });
  });

  it.each(REAL)('reads the same top-level values as pydicom from %s', async (name) => {
    const path = join(PYDICOM_DIR, name);
    expect(await readFile(path)).toEqual(oracle[path]);
  });

  it.each(['implicit', 'explicit', 'bigEndian', 'deflated'])(
    'skips nested undefined-length sequences and their decoy UIDs (%s)',
    async (kind) => {
      const path = synthetic[kind] ?? '';
      const h = await readFile(path);
      expect(h).toEqual(oracle[path]);
      expect(h).toEqual({
        SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
        SOPInstanceUID: '1.2.826.0.1.3680043.8.498.100.1.1',
        Modality: 'CT',
        StudyInstanceUID: STUDY,
        SeriesInstanceUID: SERIES,
        SeriesNumber: '7',
        InstanceNumber: '12',
      });
    },
  );

  it('skips a UN element of undefined length as implicit VR and reads the UIDs after it', async () => {
    const h = await readFile(synthetic.un ?? '');
    expect(h).toEqual(oracle[synthetic.un ?? '']);
    expect(h).toEqual({ Modality: 'CT', StudyInstanceUID: STUDY, SeriesInstanceUID: SERIES });
  });

  it('skips sequences nested ten deep', async () => {
    const h = await readFile(synthetic.deep ?? '');
    expect(h).toEqual(oracle[synthetic.deep ?? '']);
    expect(h).toEqual({ StudyInstanceUID: STUDY });
  });

  it('refuses sequences nested deeper than it is willing to follow', async () => {
    const path = writePart10(
      'deep-40.dcm',
      TS.ExplicitLE,
      encodeDataset(
        [deepSequence(40), { tag: 0x0020000d, vr: 'UI', value: STUDY }],
        syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
      ),
    );
    await expect(readFile(path)).rejects.toThrow(HeaderError);
  });

  it('returns only the wanted attributes and stops after the last one', async () => {
    // Garbage after SOPInstanceUID proves nothing beyond the last wanted tag is read.
    const ds = encodeDataset(
      [
        { tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.2' },
        { tag: 0x00080018, vr: 'UI', value: '1.2.3.4' },
        { tag: 0x00080020, vr: 'DA', value: '20240101' },
      ],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    const path = writePart10('wanted.dcm', TS.ExplicitLE, Buffer.concat([ds, Buffer.alloc(16, 0xff)]));
    const meta = parsePart10Header(readFileSync(path));
    expect(await readHeader(path, meta?.datasetOffset ?? 0, TS.ExplicitLE, ['SOPClassUID', 'SOPInstanceUID'])).toEqual({
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.2',
      SOPInstanceUID: '1.2.3.4',
    });
  });

  it('stops at encapsulated pixel data without walking its fragments', async () => {
    const els = encodeDataset(
      [{ tag: 0x00080016, vr: 'UI', value: '1.2.840.10008.5.1.4.1.1.7' }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    // (7FE0,0010) OB, undefined length, one fragment, and no sequence delimiter: the file just ends.
    const pixel = Buffer.from('e07f10004f420000ffffffff' + 'feff00e008000000' + '0102030405060708', 'hex');
    const path = writePart10('encaps.dcm', '1.2.840.10008.1.2.4.50', Buffer.concat([els, pixel]));
    expect(await readFile(path)).toEqual({ SOPClassUID: '1.2.840.10008.5.1.4.1.1.7' });
  });

  it('ignores a wanted value longer than 1 KiB instead of buffering it', async () => {
    const ds = encodeDataset(
      [
        { tag: 0x00080060, vr: 'UT', value: 'X'.repeat(2000) },
        { tag: 0x0020000d, vr: 'UI', value: STUDY },
      ],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    const path = writePart10('long.dcm', TS.ExplicitLE, ds);
    expect(await readFile(path)).toEqual({ StudyInstanceUID: STUDY });
  });

  it('reports a file cut inside a wanted value as truncated', async () => {
    const ct = readFileSync(join(PYDICOM_DIR, 'CT_small.dcm'));
    const at = ct.indexOf(Buffer.from([0x20, 0x00, 0x0d, 0x00, 0x55, 0x49]));
    const path = join(dir, 'cut-value.dcm');
    writeFileSync(path, ct.subarray(0, at + 8 + 5));
    await expect(readFile(path)).rejects.toThrow(EndOfData);
  });

  it('reports a file cut inside a skipped value as truncated', async () => {
    const ct = readFileSync(join(PYDICOM_DIR, 'CT_small.dcm'));
    // PatientName (0010,0010) is not wanted, so its value is skipped, not read.
    const at = ct.indexOf(Buffer.from([0x10, 0x00, 0x10, 0x00, 0x50, 0x4e]));
    const len = ct.readUInt16LE(at + 6);
    expect(len).toBeGreaterThan(2);
    const path = join(dir, 'cut-skipped.dcm');
    writeFileSync(path, ct.subarray(0, at + 8 + 1));
    await expect(readFile(path)).rejects.toThrow(EndOfData);
  });

  it('reports a file cut inside an undefined-length sequence as truncated', async () => {
    const full = readFileSync(synthetic.explicit ?? '');
    const at = full.indexOf(Buffer.from(DECOY, 'latin1'));
    const path = join(dir, 'cut-sequence.dcm');
    writeFileSync(path, full.subarray(0, at + 4));
    await expect(readFile(path)).rejects.toThrow(EndOfData);
  });

  it('reports a file cut inside an element header as truncated, not as a dataset that ended early', async () => {
    // BUG (src/dicom/read.ts, readHeader's EndOfData catch): 1–7 bytes left of an element header
    // are treated as a legitimate end of the dataset, so a truncated dataset is read as complete.
    const ct = readFileSync(join(PYDICOM_DIR, 'CT_small.dcm'));
    const at = ct.indexOf(Buffer.from([0x20, 0x00, 0x0d, 0x00, 0x55, 0x49]));
    const path = join(dir, 'cut-header.dcm');
    writeFileSync(path, ct.subarray(0, at + 3));
    await expect(readFile(path)).rejects.toThrow(EndOfData);
  });

  it('reads a dataset that simply ends at an element boundary before the last wanted tag', async () => {
    const ds = encodeDataset(
      [{ tag: 0x00080060, vr: 'CS', value: 'MR' }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    expect(await readFile(writePart10('short.dcm', TS.ExplicitLE, ds))).toEqual({ Modality: 'MR' });
  });

  it('refuses an empty dataset', async () => {
    await expect(readFile(writePart10('empty.dcm', TS.ExplicitLE, Buffer.alloc(0)))).rejects.toThrow(HeaderError);
  });

  it('refuses bytes that are not explicit VR elements', async () => {
    await expect(
      readFile(writePart10('garbage.dcm', TS.ExplicitLE, Buffer.from('\x08\x00\x16\x00\x01\x02garbage!'))),
    ).rejects.toThrow(HeaderError);
  });

  it('refuses top-level elements out of order', async () => {
    const a = encodeDataset(
      [{ tag: 0x0020000d, vr: 'UI', value: STUDY }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    const b = encodeDataset(
      [{ tag: 0x00080060, vr: 'CS', value: 'MR' }],
      syntaxOf(TransferSyntax.ExplicitVRLittleEndian),
    );
    await expect(readFile(writePart10('order.dcm', TS.ExplicitLE, Buffer.concat([a, b])))).rejects.toThrow(HeaderError);
  });

  it('refuses a transfer syntax it cannot decode', async () => {
    const path = writePart10('private-ts.dcm', '1.2.3.4.5', Buffer.alloc(8));
    await expect(readHeader(path, 0, '1.2.3.4.5')).rejects.toThrow(HeaderError);
  });

  it('reports corrupt deflated data as unparsable (HeaderError or EndOfData), not as a zlib error', async () => {
    // BUG (src/dicom/byte-source.ts deflatedSource): zlib errors (Z_DATA_ERROR, Z_BUF_ERROR) escape
    // as plain Errors, so intake answers ERR_DB_WRITE (retryable) instead of ERR_DICOM_UNPARSABLE.
    const path = writePart10('bad-deflate.dcm', TS.DeflatedExplicitLE, Buffer.from('this is not deflate data at all'));
    const err = await readFile(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(
      err instanceof HeaderError || err instanceof EndOfData,
      `expected HeaderError or EndOfData, got ${String(err)}`,
    ).toBe(true);
  });

  it('reports a cut deflated stream as truncated, not as a zlib error', async () => {
    // BUG: same cause as above (zlib "unexpected end of file" escapes deflatedSource unwrapped).
    const full = readFileSync(join(PYDICOM_DIR, 'image_dfl.dcm'));
    const offset = parsePart10Header(full)?.datasetOffset ?? 0;
    const path = join(dir, 'cut-deflate.dcm');
    writeFileSync(path, full.subarray(0, offset + 40));
    const err = await readFile(path).then(
      () => null,
      (e: unknown) => e,
    );
    expect(
      err instanceof HeaderError || err instanceof EndOfData,
      `expected HeaderError or EndOfData, got ${String(err)}`,
    ).toBe(true);
  });

  describe('readHeaderPrefix', () => {
    /** The dataset bytes and transfer syntax of a Part 10 file (or a bare implicit-LE dataset). */
    function datasetOf(path: string): { bytes: Buffer; ts: string } {
      const file = readFileSync(path);
      const meta = parsePart10Header(file);
      return { bytes: file.subarray(meta?.datasetOffset ?? 0), ts: meta?.transferSyntaxUid ?? TS.ImplicitLE };
    }

    const PLAIN = REAL.filter((n) => n !== 'image_dfl.dcm');

    it.each(PLAIN)('reads the same values as pydicom from the complete dataset of %s', async (name) => {
      const path = join(PYDICOM_DIR, name);
      const { bytes, ts } = datasetOf(path);
      expect(await readHeaderPrefix(bytes, ts, true)).toEqual(oracle[path]);
    });

    it.each(['implicit', 'explicit', 'bigEndian', 'un'])(
      'reads the synthetic %s dataset like readHeader',
      async (kind) => {
        const path = synthetic[kind] ?? '';
        const { bytes, ts } = datasetOf(path);
        expect(await readHeaderPrefix(bytes, ts, true)).toEqual(oracle[path]);
      },
    );

    it('asks for more bytes (null) until the prefix holds every wanted attribute, then returns them all', async () => {
      const path = join(PYDICOM_DIR, 'CT_small.dcm');
      const { bytes, ts } = datasetOf(path);
      let firstFound = -1;
      for (let n = 0; n <= 4096; n += 7) {
        const h = await readHeaderPrefix(bytes.subarray(0, n), ts, false);
        if (h === null) {
          expect(firstFound, `null again at ${String(n)} bytes after a result at ${String(firstFound)}`).toBe(-1);
          continue;
        }
        if (firstFound < 0) {
          firstFound = n;
        }
        expect(h, `prefix of ${String(n)} bytes`).toEqual(oracle[path]);
      }
      expect(firstFound).toBeGreaterThan(0);
    });

    it('asks for more bytes when the prefix ends inside a skipped undefined-length sequence', async () => {
      const { bytes, ts } = datasetOf(synthetic.explicit ?? '');
      const at = bytes.indexOf(Buffer.from(DECOY, 'latin1'));
      expect(await readHeaderPrefix(bytes.subarray(0, at + 4), ts, false)).toBeNull();
    });

    it('refuses malformed bytes at once instead of asking for more', async () => {
      await expect(
        readHeaderPrefix(Buffer.from('\x08\x00\x16\x00\x01\x02garbage!'), TS.ExplicitLE, false),
      ).rejects.toThrow(HeaderError);
    });

    it('refuses an empty complete dataset', async () => {
      await expect(readHeaderPrefix(Buffer.alloc(0), TS.ExplicitLE, true)).rejects.toThrow(HeaderError);
    });

    it('refuses deflated and unknown transfer syntaxes', async () => {
      await expect(readHeaderPrefix(Buffer.alloc(16), TS.DeflatedExplicitLE, false)).rejects.toThrow(HeaderError);
      await expect(readHeaderPrefix(Buffer.alloc(16), '1.2.3.4.5', false)).rejects.toThrow(HeaderError);
    });

    it('reports a complete dataset cut inside a value as truncated', async () => {
      const { bytes, ts } = datasetOf(join(PYDICOM_DIR, 'CT_small.dcm'));
      const at = bytes.indexOf(Buffer.from([0x20, 0x00, 0x0d, 0x00, 0x55, 0x49]));
      await expect(readHeaderPrefix(bytes.subarray(0, at + 8 + 5), ts, true)).rejects.toThrow(EndOfData);
    });
  });
});
