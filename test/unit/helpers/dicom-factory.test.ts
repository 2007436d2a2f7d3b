//! Byte-level checks of the test DICOM factory (the dcmdump/dciodvfy checks are in test/integration/helpers).
import { mkdtemp, open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CT_IMAGE_STORAGE,
  TransferSyntax,
  encodeInstance,
  newUid,
  writeInstance,
  writeLargeInstance,
  writeSeries,
} from '../../helpers/dicom-factory.ts';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xnatgw-factory-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Offset of the first `needle` in `hay` at or after `from`. */
function find(hay: Buffer, needle: readonly number[], from = 0): number {
  return hay.indexOf(Buffer.from(needle), from);
}

describe('newUid', () => {
  it('returns distinct 2.25 UIDs no longer than 64 characters', () => {
    const uids = new Set(Array.from({ length: 200 }, () => newUid()));
    expect(uids.size).toBe(200);
    for (const uid of uids) {
      expect(uid).toMatch(/^2\.25\.(0|[1-9]\d*)$/);
      expect(uid.length).toBeLessThanOrEqual(64);
    }
  });
});

describe('encodeInstance', () => {
  it('writes a preamble, DICM and a meta group whose length matches its content', () => {
    const { bytes, transferSyntaxUid, sopClassUid } = encodeInstance();
    expect(bytes.subarray(0, 128).every((b) => b === 0)).toBe(true);
    expect(bytes.toString('latin1', 128, 132)).toBe('DICM');
    expect(bytes.toString('latin1', 136, 138)).toBe('UL');
    const groupLength = bytes.readUInt32LE(140);
    const afterMeta = 144 + groupLength;
    // The first dataset element is (0008,0005) SpecificCharacterSet.
    expect(bytes.subarray(afterMeta, afterMeta + 6)).toEqual(Buffer.from([0x08, 0, 0x05, 0, 0x43, 0x53]));
    expect(transferSyntaxUid).toBe(TransferSyntax.ExplicitVRLittleEndian);
    expect(sopClassUid).toBe(CT_IMAGE_STORAGE);
    expect(bytes.toString('latin1', 144, afterMeta)).toContain(TransferSyntax.ExplicitVRLittleEndian);
  });

  it('ends with 16-bit pixel data of rows × columns × 2 bytes', () => {
    const { bytes } = encodeInstance({ rows: 8, columns: 6 });
    const at = find(bytes, [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0]);
    expect(at).toBeGreaterThan(0);
    expect(bytes.readUInt32LE(at + 8)).toBe(96);
    expect(bytes.length).toBe(at + 12 + 96);
  });

  it('writes implicit VR without VR letters and big endian with swapped words', () => {
    const opts = {
      rows: 2,
      columns: 2,
      sopInstanceUid: newUid(),
      studyInstanceUid: newUid(),
      seriesInstanceUid: newUid(),
    };
    const le = encodeInstance(opts).bytes;
    const ile = encodeInstance({ ...opts, transferSyntax: TransferSyntax.ImplicitVRLittleEndian }).bytes;
    const be = encodeInstance({ ...opts, transferSyntax: TransferSyntax.ExplicitVRBigEndian }).bytes;
    const iPix = find(ile, [0xe0, 0x7f, 0x10, 0x00, 8, 0, 0, 0]);
    expect(iPix).toBeGreaterThan(0);
    expect(find(be, [0x7f, 0xe0, 0x00, 0x10, 0x4f, 0x57, 0, 0, 0, 0, 0, 8])).toBeGreaterThan(0);
    expect(Buffer.from(be.subarray(-8)).swap16()).toEqual(le.subarray(-8));
    expect(ile.subarray(-8)).toEqual(le.subarray(-8));
  });

  it('includes a private block and an undefined-length sequence unless disabled', () => {
    const withAll = encodeInstance().bytes;
    expect(withAll.includes(Buffer.from('XNATGW TEST'))).toBe(true);
    expect(find(withAll, [0x08, 0, 0x40, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff])).toBeGreaterThan(0);
    expect(find(withAll, [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0])).toBeGreaterThan(0);
    const bare = encodeInstance({ privateBlock: false, undefinedLengthSequence: false }).bytes;
    expect(bare.includes(Buffer.from('XNATGW TEST'))).toBe(false);
    expect(find(bare, [0xfe, 0xff, 0xdd, 0xe0])).toBe(-1);
  });

  it('lets extra elements replace defaults and omits the meta header on request', () => {
    const { bytes } = encodeInstance({
      omitFileMeta: true,
      extraElements: [{ tag: 0x00100010, vr: 'PN', value: 'Other^Name' }],
    });
    expect(bytes.toString('latin1', 128, 132)).not.toBe('DICM');
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0x08, 0, 0x05, 0]));
    expect(bytes.includes(Buffer.from('Other^Name'))).toBe(true);
    expect(bytes.includes(Buffer.from('Test^Patient'))).toBe(false);
  });

  it('pads odd-length text to an even length', () => {
    const { bytes } = encodeInstance({ patientId: 'ABC' });
    const at = find(bytes, [0x10, 0, 0x20, 0, 0x4c, 0x4f]);
    expect(bytes.readUInt16LE(at + 6)).toBe(4);
    expect(bytes.toString('latin1', at + 8, at + 12)).toBe('ABC ');
  });
});

describe('writeInstance and writeSeries', () => {
  it('writes a file whose size and UIDs are reported', async () => {
    const info = await writeInstance(join(dir, 'one.dcm'), { patientName: 'Müller^Hans' });
    expect((await stat(info.path)).size).toBe(info.bytes);
    expect((await readFile(info.path)).includes(Buffer.from('Müller^Hans', 'utf8'))).toBe(true);
  });

  it('writes numbered instances of one series', async () => {
    const paths = await writeSeries(join(dir, 'series'), { count: 3, rows: 4, columns: 4 });
    expect(paths.map((p) => basename(p))).toEqual(['0001.dcm', '0002.dcm', '0003.dcm']);
    const files = await Promise.all(paths.map((p) => readFile(p)));
    const seriesUid = (b: Buffer): string => {
      const at = find(b, [0x20, 0, 0x0e, 0, 0x55, 0x49]);
      return b.toString('latin1', at + 8, at + 8 + b.readUInt16LE(at + 6));
    };
    expect(new Set(files.map(seriesUid)).size).toBe(1);
  });
});

describe('writeLargeInstance', () => {
  it('streams an even-length pixel data element of at least the requested size', async () => {
    const info = await writeLargeInstance(join(dir, 'large.dcm'), { bytes: 3_000_001, chunkBytes: 65_536 });
    expect(info.pixelDataBytes % 2).toBe(0);
    expect(info.pixelDataBytes).toBeGreaterThanOrEqual(3_000_001);
    expect((await stat(info.path)).size).toBe(info.bytes);
    const fh = await open(info.path, 'r');
    try {
      const head = Buffer.alloc(4096);
      await fh.read(head, 0, head.length, 0);
      const at = find(head, [0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x57, 0, 0]);
      expect(head.readUInt32LE(at + 8)).toBe(info.pixelDataBytes);
      expect(info.bytes - (at + 12)).toBe(info.pixelDataBytes);
      const second = Buffer.alloc(4);
      await fh.read(second, 0, 4, at + 12 + 65_536);
      expect(second.readUInt32LE(0)).toBe(1);
    } finally {
      await fh.close();
    }
  });

  it('hits sizes with an exact 16-bit geometry exactly', async () => {
    const info = await writeLargeInstance(join(dir, 'exact.dcm'), { bytes: 4 * 1024 * 1024 });
    expect(info.pixelDataBytes).toBe(4 * 1024 * 1024);
  });

  it('refuses pixel data longer than 0xFFFFFFFE bytes', async () => {
    await expect(writeLargeInstance(join(dir, 'huge.dcm'), { bytes: 0xffffffff })).rejects.toThrow(RangeError);
  });
});
