//! The xnat-dimse fallback: implicit VR LE, big endian and deflated datasets rewritten as Explicit VR LE,
// compared byte for byte with the factory's own Explicit VR LE encoding of the same instance.
import { createHash } from 'node:crypto';
import { closeSync, mkdtempSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { buildPart10Header, parsePart10Header } from '../../../../src/dicom/part10.ts';
import { parseDataset } from '../../../../src/dicom/dataset.ts';
import { TS } from '../../../../src/dicom/transfer-syntax.ts';
import { transcodeToExplicitLe, type BodyPart } from '../../../../src/sinks/xnat-dimse/transcode.ts';
import {
  CT_IMAGE_STORAGE,
  TransferSyntax,
  encodeInstance,
  writeLargeInstance,
  type InstanceOptions,
} from '../../../helpers/dicom-factory.ts';

const dir = mkdtempSync(join(tmpdir(), 'xg-transcode-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Every UID fixed, so two encodings of these options differ only in their syntax. */
const UIDS = {
  studyInstanceUid: '1.2.826.0.1.1',
  seriesInstanceUid: '1.2.826.0.1.1.2',
  sopInstanceUid: '1.2.826.0.1.1.2.3',
  frameOfReferenceUid: '1.2.826.0.1.1.9',
  extraElements: [
    {
      tag: 0x00081140,
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          { tag: 0x00081150, vr: 'UI', value: CT_IMAGE_STORAGE },
          { tag: 0x00081155, vr: 'UI', value: '1.2.826.0.1.1.7' },
        ],
      ],
    },
  ],
} satisfies InstanceOptions;
const FIXED: InstanceOptions = { ...UIDS, rows: 8, columns: 8 };

function dataset(bytes: Buffer): Buffer {
  const meta = parsePart10Header(bytes);
  if (!meta) {
    throw new Error('no meta');
  }
  return bytes.subarray(meta.datasetOffset);
}

/** The parts as one buffer: file ranges read (and byte-swapped) as the sender would. */
function assemble(path: string, parts: readonly BodyPart[]): Buffer {
  const fd = openSync(path, 'r');
  try {
    return Buffer.concat(
      parts.map((p) => {
        if (Buffer.isBuffer(p)) {
          return p;
        }
        const b = Buffer.alloc(p.to - p.from);
        readSync(fd, b, 0, b.length, p.from);
        return p.swap16 ? b.swap16() : b;
      }),
    );
  } finally {
    closeSync(fd);
  }
}

async function transcodeFile(path: string): Promise<Buffer> {
  const meta = parsePart10Header(readFileSync(path).subarray(0, 64 * 1024));
  if (!meta) {
    throw new Error('no meta');
  }
  return assemble(path, await transcodeToExplicitLe(path, meta));
}

describe('transcodeToExplicitLe', () => {
  it.each([
    ['implicit VR little endian', TransferSyntax.ImplicitVRLittleEndian, false],
    ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian, true],
  ] as const)('rewrites %s as the Explicit VR LE encoding of the same instance', async (_name, ts, privateBlock) => {
    const o: InstanceOptions = { ...FIXED, ...(privateBlock ? {} : { privateBlock: false }) };
    const path = join(dir, `small-${ts}.dcm`);
    writeFileSync(path, encodeInstance({ ...o, transferSyntax: ts }).bytes);
    const expected = dataset(encodeInstance({ ...o, transferSyntax: TransferSyntax.ExplicitVRLittleEndian }).bytes);
    expect((await transcodeFile(path)).toString('hex')).toBe(expected.toString('hex'));
  });

  it('gives implicit private elements UN and their creators LO, values unchanged', async () => {
    const path = join(dir, 'private.dcm');
    writeFileSync(path, encodeInstance({ ...FIXED, transferSyntax: TransferSyntax.ImplicitVRLittleEndian }).bytes);
    const out = parseDataset(await transcodeFile(path), { explicitVr: true, littleEndian: true, deflated: false });
    const creator = out.elements.find((e) => e.tag === 0x00290010);
    const value = out.elements.find((e) => e.tag === 0x00291010);
    expect([creator?.vr, creator?.value?.toString('latin1')]).toEqual(['LO', 'XNATGW TEST ']);
    expect([value?.vr, value?.value?.toString('hex')]).toEqual(['UN', '000102030405060708090a0b0c0d0e0f']);
    expect(out.elements.find((e) => e.tag === 0x7fe00010)?.vr).toBe('OW');
  });

  it('inflates a deflated dataset, which is then Explicit VR LE byte for byte', async () => {
    const explicit = encodeInstance({ ...FIXED, transferSyntax: TransferSyntax.ExplicitVRLittleEndian });
    const path = join(dir, 'deflated.dcm');
    const meta = buildPart10Header({
      sopClassUid: explicit.sopClassUid,
      sopInstanceUid: explicit.sopInstanceUid,
      transferSyntaxUid: TS.DeflatedExplicitLE,
    });
    writeFileSync(path, Buffer.concat([meta, deflateRawSync(dataset(explicit.bytes))]));
    expect((await transcodeFile(path)).equals(dataset(explicit.bytes))).toBe(true);
  });

  it('refuses compressed and already explicit little endian data', async () => {
    const path = join(dir, 'explicit.dcm');
    writeFileSync(path, encodeInstance(FIXED).bytes);
    await expect(transcodeToExplicitLe(path, { datasetOffset: 0, transferSyntaxUid: TS.ExplicitLE })).rejects.toThrow(
      /not transcoded/,
    );
    await expect(
      transcodeToExplicitLe(path, { datasetOffset: 0, transferSyntaxUid: '1.2.840.10008.1.2.4.50' }),
    ).rejects.toThrow(/not transcoded/);
  });

  it('leaves the pixel data of a big file on disk as a range, byte-swapped for big endian', async () => {
    const bytes = 66 * 1024 * 1024;
    const large = UIDS;
    const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
    for (const ts of [TransferSyntax.ImplicitVRLittleEndian, TransferSyntax.ExplicitVRBigEndian]) {
      const o = {
        ...large,
        bytes,
        ...(ts === TransferSyntax.ImplicitVRLittleEndian ? { privateBlock: false as const } : {}),
      };
      const explicit = await writeLargeInstance(join(dir, 'big-ele.dcm'), o);
      const info = await writeLargeInstance(join(dir, `big-${ts}.dcm`), { ...o, transferSyntax: ts });
      const meta = parsePart10Header(readFileSync(info.path).subarray(0, 64 * 1024));
      if (!meta) {
        throw new Error('no meta');
      }
      const parts = await transcodeToExplicitLe(info.path, meta);
      const big = ts === TransferSyntax.ExplicitVRBigEndian;
      expect(parts.map((p) => (Buffer.isBuffer(p) ? 'bytes' : `range swap16=${String(p.swap16)}`))).toEqual([
        'bytes',
        `range swap16=${String(big)}`,
      ]);
      const expected = dataset(readFileSync(explicit.path));
      // The factory streams the same pixel bytes whatever the syntax, so big-endian words read swapped.
      if (big) {
        expected.subarray(expected.length - info.pixelDataBytes).swap16();
      }
      expect(sha(assemble(info.path, parts)), ts).toBe(sha(expected));
    }
  });
});
