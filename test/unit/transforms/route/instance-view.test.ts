import { open, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { parseDataset } from '../../../../src/dicom/dataset.ts';
import { HeaderError } from '../../../../src/dicom/elements.ts';
import { buildPart10Header } from '../../../../src/dicom/part10.ts';
import { encodingOf, TS } from '../../../../src/dicom/transfer-syntax.ts';
import { readInstance } from '../../../../src/transforms/route/instance-view.ts';
import { elementHeader, syntaxOf } from '../../../helpers/dicom-encoder.ts';
import {
  encodeInstance,
  newUid,
  TransferSyntax,
  writeInstance,
  type Element,
  type TransferSyntaxUid,
} from '../../../helpers/dicom-factory.ts';

const IMAGE_TYPE = 0x00080008;
const ACCESSION = 0x00080050;
const MODALITY = 0x00080060;
const STATION = 0x00081010;
const PROTOCOL_NAME = 0x00181030;
const ROWS = 0x00280010;
const PIXEL_DATA = 0x7fe00010;
const RT_STRUCT = '1.2.840.10008.5.1.4.1.1.481.3';
const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';

let dir: string;
let n = 0;
const file = (): string => join(dir, `${String(++n)}.dcm`);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xnatgw-route-view-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// Every VR here matches the dictionary, so implicit-VR files decode them the same way.
const EXTRA: Element[] = [
  { tag: PROTOCOL_NAME, vr: 'LO', value: '' }, // only where a test writes it
  { tag: 0x00181000, vr: 'LO', value: 'SN\\ 42 ' },
  { tag: 0x00181151, vr: 'IS', value: ' 250 ' },
  { tag: 0x00181164, vr: 'DS', value: ['0.5', '0.25'] },
  { tag: 0x00182043, vr: 'FL', value: [0.1, 2.5] },
  { tag: 0x00186016, vr: 'UL', value: 4000000000 },
  { tag: 0x00186020, vr: 'SL', value: -70000 },
  { tag: 0x00189087, vr: 'FD', value: 1000.5 },
  { tag: 0x00189219, vr: 'SS', value: -45 },
  { tag: 0x00189306, vr: 'FD', value: 0.1 },
  { tag: 0x00540081, vr: 'US', value: [7, 8] },
];

describe('readInstance: attribute values as the rules see them', () => {
  const syntaxes: [string, TransferSyntaxUid][] = [
    ['explicit VR little endian', TransferSyntax.ExplicitVRLittleEndian],
    ['implicit VR little endian', TransferSyntax.ImplicitVRLittleEndian],
    ['explicit VR big endian', TransferSyntax.ExplicitVRBigEndian],
  ];
  for (const [label, ts] of syntaxes) {
    it(`decodes text, numbers, empty and missing attributes (${label})`, async () => {
      const path = file();
      // ProtocolName is left out of this instance: only the extra elements after it are written.
      const info = await writeInstance(path, { transferSyntax: ts, extraElements: EXTRA.slice(1) });
      const r = await readInstance(path);
      const v = r.view;
      expect(v.values(IMAGE_TYPE)).toEqual(['ORIGINAL', 'PRIMARY', 'AXIAL']);
      expect(v.values(MODALITY)).toEqual(['CT']);
      expect(v.values(ROWS)).toEqual(['16']);
      expect(v.values(ACCESSION)).toEqual([]);
      expect(v.values(PROTOCOL_NAME)).toBeUndefined();
      expect(v.values(0x00181000)).toEqual(['SN', '42']);
      expect(v.values(0x00181151)).toEqual(['250']);
      expect(v.values(0x00181164)).toEqual(['0.5', '0.25']);
      expect(v.values(0x00182043)).toEqual(['0.1', '2.5']);
      expect(v.values(0x00186016)).toEqual(['4000000000']);
      expect(v.values(0x00186020)).toEqual(['-70000']);
      expect(v.values(0x00189087)).toEqual(['1000.5']);
      expect(v.values(0x00189219)).toEqual(['-45']);
      expect(v.values(0x00189306)).toEqual(['0.1']);
      expect(v.values(0x00540081)).toEqual(['7', '8']);
      // A sequence, an OB value and the pixel data are present but have no comparable value.
      expect(v.values(0x00081140)).toEqual([]);
      expect(v.values(0x00291010)).toEqual([]);
      expect(v.values(PIXEL_DATA)).toEqual([]);
      expect(v.sopClassUid).toBe(CT_IMAGE);
      expect(r).toMatchObject({
        studyInstanceUid: info.studyInstanceUid,
        seriesInstanceUid: info.seriesInstanceUid,
        sopInstanceUid: info.sopInstanceUid,
        modality: 'CT',
        rt: null,
      });
    });
  }

  it('reads a present but empty attribute as []', async () => {
    const path = file();
    await writeInstance(path, { extraElements: [EXTRA[0] as Element] });
    const v = (await readInstance(path)).view;
    expect(v.values(PROTOCOL_NAME)).toEqual([]);
  });

  it('reads a deflated dataset', async () => {
    const bare = encodeInstance({
      omitFileMeta: true,
      modality: 'MR',
      extraElements: [{ tag: 0x00540081, vr: 'US', value: 9 }],
    });
    const meta = buildPart10Header({
      sopClassUid: bare.sopClassUid,
      sopInstanceUid: bare.sopInstanceUid,
      transferSyntaxUid: TS.DeflatedExplicitLE,
    });
    const path = file();
    await writeFile(path, Buffer.concat([meta, deflateRawSync(bare.bytes)]));
    const r = await readInstance(path);
    expect(r.modality).toBe('MR');
    expect(r.view.values(0x00540081)).toEqual(['9']);
    expect(r.view.values(IMAGE_TYPE)).toEqual(['ORIGINAL', 'PRIMARY', 'AXIAL']);
    expect(r.sopInstanceUid).toBe(bare.sopInstanceUid);
  });

  it('reads a deflated header larger than the first read, and stops inflating at the pixel data', async () => {
    const big: Element = { tag: 0x00191001, vr: 'OB', value: new Uint8Array(200 * 1024).fill(7) };
    const bare = encodeInstance({
      omitFileMeta: true,
      rows: 1024,
      columns: 2048,
      extraElements: [big, { tag: 0x00541000, vr: 'CS', value: 'LATE' }],
    });
    const meta = buildPart10Header({
      sopClassUid: bare.sopClassUid,
      sopInstanceUid: bare.sopInstanceUid,
      transferSyntaxUid: TS.DeflatedExplicitLE,
    });
    const path = file();
    await writeFile(path, Buffer.concat([meta, deflateRawSync(bare.bytes)]));
    const spy = vi.spyOn(Buffer, 'concat');
    try {
      const r = await readInstance(path);
      expect(r.view.values(0x00541000)).toEqual(['LATE']);
      // The 4 MiB pixel data is not inflated whole: reads stop once the header is parsed.
      const largest = Math.max(...spy.mock.results.map((x) => (x.value as Buffer).length));
      expect(largest).toBeLessThan(bare.bytes.length);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads a bare dataset without preamble or File Meta', async () => {
    const path = file();
    const info = await writeInstance(path, {
      omitFileMeta: true,
      transferSyntax: TransferSyntax.ImplicitVRLittleEndian,
    });
    const r = await readInstance(path);
    expect(r.sopInstanceUid).toBe(info.sopInstanceUid);
    expect(r.view.values(ROWS)).toEqual(['16']);
  });

  it('takes the SOP Class UID from the File Meta when the dataset has none', async () => {
    const path = file();
    await writeInstance(path, {
      sopClassUid: RT_STRUCT,
      modality: 'OT',
      extraElements: [{ tag: 0x00080016, vr: 'UI', value: '' }],
    });
    const r = await readInstance(path);
    expect(r.view.values(0x00080016)).toEqual([]);
    expect(r.view.sopClassUid).toBe(RT_STRUCT);
    // RT by SOP class when Modality does not say so.
    expect(r.rt?.modality).toBe('RTSTRUCT');
  });

  it('reads a public attribute relayed as UN with its dictionary VR', async () => {
    const path = file();
    await writeInstance(path, {
      extraElements: [
        { tag: STATION, vr: 'UN', value: Buffer.from('CT01\\CT02 ', 'latin1') },
        { tag: 0x00191001, vr: 'UN', value: Uint8Array.of(1, 2) },
      ],
    });
    const v = (await readInstance(path)).view;
    expect(v.values(STATION)).toEqual(['CT01', 'CT02']);
    expect(v.values(0x00191001)).toEqual([]);
  });

  it('refuses a file that is not DICOM', async () => {
    const path = file();
    await writeFile(path, 'hello, this is plain text and not a DICOM file at all');
    await expect(readInstance(path)).rejects.toBeInstanceOf(HeaderError);
  });
});

describe('readInstance: only the header is read', () => {
  /** Writes the header of an instance, then a pixel data element of `pixelBytes` left as a sparse hole. */
  async function sparseInstance(
    path: string,
    pixelBytes: number,
    extraElements: Element[] = [],
  ): Promise<ReturnType<typeof encodeInstance>> {
    const inst = encodeInstance({ rows: 2, columns: 2, extraElements });
    const head = inst.bytes.subarray(0, inst.bytes.length - 12 - 8);
    const s = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);
    await writeFile(path, Buffer.concat([head, elementHeader(PIXEL_DATA, 'OW', pixelBytes, s)]));
    const fh = await open(path, 'r+');
    await fh.truncate(head.length + 12 + pixelBytes);
    await fh.close();
    return inst;
  }

  it('reads a 1 GiB file by its first bytes, and a header larger than the first read', async () => {
    const path = file();
    const big: Element = { tag: 0x00191001, vr: 'OB', value: new Uint8Array(300 * 1024) };
    const inst = await sparseInstance(path, 1024 * 1024 * 1024, [
      big,
      { tag: 0x00541000, vr: 'CS', value: ['LATE', 'VALUE'] },
    ]);
    const spy = vi.spyOn(Buffer, 'allocUnsafe');
    try {
      const r = await readInstance(path);
      expect(r.sopInstanceUid).toBe(inst.sopInstanceUid);
      expect(r.view.values(0x00541000)).toEqual(['LATE', 'VALUE']);
      const largest = Math.max(...spy.mock.calls.map((c) => c[0]));
      expect(largest).toBeLessThanOrEqual(4 * 1024 * 1024);
    } finally {
      spy.mockRestore();
    }
  });

  it('reads on when the first read ends exactly between two elements', async () => {
    // Size a private OB so that the element after it starts exactly where the first read (64 KiB) ends.
    const probe = encodeInstance({
      rows: 2,
      columns: 2,
      omitFileMeta: true,
      extraElements: [{ tag: 0x00191001, vr: 'OB', value: new Uint8Array(2) }],
    });
    const enc = encodingOf(TS.ExplicitLE);
    if (!enc) {
      throw new Error('no encoding');
    }
    const start = parseDataset(probe.bytes, enc).elements.find((e) => e.tag === 0x00191001)?.start ?? 0;
    const filler: Element = { tag: 0x00191001, vr: 'OB', value: new Uint8Array(64 * 1024 - start - 12) };
    const path = file();
    const inst = await sparseInstance(path, 64 * 1024 * 1024, [filler, { tag: 0x00541000, vr: 'CS', value: 'AFTER' }]);
    const r = await readInstance(path);
    expect(r.sopInstanceUid).toBe(inst.sopInstanceUid);
    expect(r.view.values(0x00541000)).toEqual(['AFTER']);
  });
});

describe('readInstance: RT references', () => {
  const study = newUid();
  const ctSeries = newUid();
  const ownSeries = newUid();
  const own = newUid();
  const cts = [newUid(), newUid(), newUid()];
  const contour = (uid: string): Element[] => [
    { tag: 0x00081150, vr: 'UI', value: CT_IMAGE },
    { tag: 0x00081155, vr: 'UI', value: uid },
  ];
  const structure: Element[] = [
    // ReferencedFrameOfReferenceSequence > RTReferencedStudySequence > RTReferencedSeriesSequence > ContourImageSequence
    {
      tag: 0x30060010,
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          { tag: 0x00200052, vr: 'UI', value: newUid() },
          {
            tag: 0x30060012,
            vr: 'SQ',
            items: [
              [
                { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.3.1.2.3.1' },
                { tag: 0x00081155, vr: 'UI', value: study },
                {
                  tag: 0x30060014,
                  vr: 'SQ',
                  items: [
                    [
                      { tag: 0x0020000e, vr: 'UI', value: ctSeries },
                      { tag: 0x30060016, vr: 'SQ', undefinedLength: true, items: cts.map(contour) },
                    ],
                  ],
                },
              ],
            ],
          },
        ],
      ],
    },
    // A procedure step and a reference to itself are not waited for.
    {
      tag: 0x00081111,
      vr: 'SQ',
      items: [
        [
          { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.3.1.2.3.3' },
          { tag: 0x00081155, vr: 'UI', value: newUid() },
        ],
      ],
    },
    {
      tag: 0x00081115,
      vr: 'SQ',
      items: [[{ tag: 0x0020000e, vr: 'UI', value: ownSeries }], [{ tag: 0x0020000e, vr: 'UI', value: ctSeries }]],
    },
    { tag: 0x00081140, vr: 'SQ', items: [contour(own), contour(cts[0] ?? '')] },
  ];

  for (const ts of [TransferSyntax.ExplicitVRLittleEndian, TransferSyntax.ImplicitVRLittleEndian]) {
    it(`collects referenced series and instances at any depth, without itself (${ts})`, async () => {
      const path = file();
      await writeInstance(path, {
        modality: 'RTSTRUCT',
        sopClassUid: RT_STRUCT,
        studyInstanceUid: study,
        seriesInstanceUid: ownSeries,
        sopInstanceUid: own,
        transferSyntax: ts,
        undefinedLengthSequence: false,
        extraElements: structure,
      });
      const r = await readInstance(path);
      expect(r.rt).toEqual({ modality: 'RTSTRUCT', seriesUids: [ctSeries], sopInstanceUids: cts });
    });
  }

  it('gives no references for an image, whatever it refers to', async () => {
    const path = file();
    await writeInstance(path, { extraElements: structure.slice(0, 1) });
    expect((await readInstance(path)).rt).toBeNull();
  });
});
