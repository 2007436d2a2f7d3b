//! Synthetic, valid DICOM Part 10 CT instances for tests, written by our own encoder (no dcmjs).
import { randomUUID } from 'node:crypto';
import { mkdir, open, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  TransferSyntax,
  elementHeader,
  encodeDataset,
  encodeFileMeta,
  syntaxOf,
  type Element,
  type TransferSyntaxUid,
} from './dicom-encoder.ts';

export { TransferSyntax, type Element, type TransferSyntaxUid } from './dicom-encoder.ts';

/** CT Image Storage, the default SOP class. */
export const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const PIXEL_DATA = 0x7fe00010;
/** The largest even value length below the undefined-length marker 0xFFFFFFFF. */
export const MAX_PIXEL_DATA_BYTES = 0xfffffffe;

/** A new UID under the UUID root: `2.25.<decimal of a random (v4) 128-bit UUID>` (PS3.5 §B.2). */
export function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replaceAll('-', '')}`).toString()}`;
}

/** Options for one instance. Every field is optional; UIDs default to `newUid()`. */
export interface InstanceOptions {
  readonly studyInstanceUid?: string;
  readonly seriesInstanceUid?: string;
  readonly sopInstanceUid?: string;
  /** Default CT Image Storage. Only CT output is checked against dciodvfy. */
  readonly sopClassUid?: string;
  readonly frameOfReferenceUid?: string;
  /** Default 'CT'. */
  readonly modality?: string;
  /** Default 'Test^Patient'. Encoded as UTF-8 (SpecificCharacterSet ISO_IR 192). */
  readonly patientName?: string;
  /** Default 'TEST0001'. */
  readonly patientId?: string;
  /** Default ''. */
  readonly accessionNumber?: string;
  /** Default 'Synthetic study'. */
  readonly studyDescription?: string;
  /** Default 'Synthetic series'. */
  readonly seriesDescription?: string;
  /** Default 1. */
  readonly seriesNumber?: number;
  /** Default 1; also sets ImagePositionPatient z (instanceNumber × 2.5 mm) and the pixel pattern. */
  readonly instanceNumber?: number;
  /** Default 20240101 (DA). */
  readonly studyDate?: string;
  /** Default 16 pixels. */
  readonly rows?: number;
  /** Default 16 pixels. */
  readonly columns?: number;
  /** Private block (0029,0010) LO creator + (0029,1010) OB value. Default on; `false` omits it. */
  readonly privateBlock?: false | { readonly creator: string; readonly value: Uint8Array };
  /** An undefined-length ReferencedImageSequence with one undefined-length item. Default true. */
  readonly undefinedLengthSequence?: boolean;
  /** Default explicit VR little endian. */
  readonly transferSyntax?: TransferSyntaxUid;
  /** Write the bare dataset: no preamble, no File Meta Information. Default false. */
  readonly omitFileMeta?: boolean;
  /** Additional or replacing elements (same tag wins over the defaults). */
  readonly extraElements?: readonly Element[];
}

/** What was written. */
export interface InstanceInfo {
  readonly path: string;
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: TransferSyntaxUid;
  /** Size of the file in bytes. */
  readonly bytes: number;
}

interface Resolved {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
  readonly transferSyntaxUid: TransferSyntaxUid;
}

function resolve(o: InstanceOptions): Resolved {
  return {
    studyInstanceUid: o.studyInstanceUid ?? newUid(),
    seriesInstanceUid: o.seriesInstanceUid ?? newUid(),
    sopInstanceUid: o.sopInstanceUid ?? newUid(),
    sopClassUid: o.sopClassUid ?? CT_IMAGE_STORAGE,
    transferSyntaxUid: o.transferSyntax ?? TransferSyntax.ExplicitVRLittleEndian,
  };
}

/** Deterministic 16-bit pixels (little-endian words), values below 4096 so the image stays sensible. */
export function pixelPattern(rows: number, columns: number, seed: number): Buffer {
  const b = Buffer.alloc(rows * columns * 2);
  for (let i = 0; i < rows * columns; i++) {
    b.writeUInt16LE((i * 7 + seed * 131) % 4096, i * 2);
  }
  return b;
}

/** The CT, General Study/Series/Image, Frame of Reference, Equipment, Image Plane/Pixel and SOP Common attributes. */
function headerElements(o: InstanceOptions, r: Resolved, rows: number, columns: number): Element[] {
  const n = o.instanceNumber ?? 1;
  const date = o.studyDate ?? '20240101';
  const z = (n * 2.5).toFixed(1);
  const els: Element[] = [
    { tag: 0x00080005, vr: 'CS', value: 'ISO_IR 192' },
    { tag: 0x00080008, vr: 'CS', value: ['ORIGINAL', 'PRIMARY', 'AXIAL'] },
    { tag: 0x00080016, vr: 'UI', value: r.sopClassUid },
    { tag: 0x00080018, vr: 'UI', value: r.sopInstanceUid },
    { tag: 0x00080020, vr: 'DA', value: date },
    { tag: 0x00080021, vr: 'DA', value: date },
    { tag: 0x00080023, vr: 'DA', value: date },
    { tag: 0x00080030, vr: 'TM', value: '120000' },
    { tag: 0x00080031, vr: 'TM', value: '120000' },
    { tag: 0x00080033, vr: 'TM', value: '120000' },
    { tag: 0x00080050, vr: 'SH', value: o.accessionNumber ?? '' },
    { tag: 0x00080060, vr: 'CS', value: o.modality ?? 'CT' },
    { tag: 0x00080070, vr: 'LO', value: 'XNAT Gateway Test Factory' },
    { tag: 0x00080090, vr: 'PN', value: '' },
    { tag: 0x00081030, vr: 'LO', value: o.studyDescription ?? 'Synthetic study' },
    { tag: 0x0008103e, vr: 'LO', value: o.seriesDescription ?? 'Synthetic series' },
    { tag: 0x00100010, vr: 'PN', value: o.patientName ?? 'Test^Patient' },
    { tag: 0x00100020, vr: 'LO', value: o.patientId ?? 'TEST0001' },
    { tag: 0x00100030, vr: 'DA', value: '19700101' },
    { tag: 0x00100040, vr: 'CS', value: 'O' },
    { tag: 0x00180015, vr: 'CS', value: 'HEAD' },
    { tag: 0x00180050, vr: 'DS', value: '2.5' },
    { tag: 0x00180060, vr: 'DS', value: '120' },
    { tag: 0x00185100, vr: 'CS', value: 'HFS' },
    { tag: 0x0020000d, vr: 'UI', value: r.studyInstanceUid },
    { tag: 0x0020000e, vr: 'UI', value: r.seriesInstanceUid },
    { tag: 0x00200010, vr: 'SH', value: '1' },
    { tag: 0x00200011, vr: 'IS', value: String(o.seriesNumber ?? 1) },
    { tag: 0x00200012, vr: 'IS', value: '1' },
    { tag: 0x00200013, vr: 'IS', value: String(n) },
    { tag: 0x00200032, vr: 'DS', value: ['0', '0', z] },
    { tag: 0x00200037, vr: 'DS', value: ['1', '0', '0', '0', '1', '0'] },
    { tag: 0x00200052, vr: 'UI', value: o.frameOfReferenceUid ?? newUid() },
    { tag: 0x00201040, vr: 'LO', value: '' },
    { tag: 0x00201041, vr: 'DS', value: z },
    { tag: 0x00280002, vr: 'US', value: 1 },
    { tag: 0x00280004, vr: 'CS', value: 'MONOCHROME2' },
    { tag: 0x00280010, vr: 'US', value: rows },
    { tag: 0x00280011, vr: 'US', value: columns },
    { tag: 0x00280030, vr: 'DS', value: ['0.5', '0.5'] },
    { tag: 0x00280100, vr: 'US', value: 16 },
    { tag: 0x00280101, vr: 'US', value: 16 },
    { tag: 0x00280102, vr: 'US', value: 15 },
    { tag: 0x00280103, vr: 'US', value: 0 },
    { tag: 0x00281050, vr: 'DS', value: '40' },
    { tag: 0x00281051, vr: 'DS', value: '400' },
    { tag: 0x00281052, vr: 'DS', value: '-1024' },
    { tag: 0x00281053, vr: 'DS', value: '1' },
    { tag: 0x00281054, vr: 'LO', value: 'HU' },
  ];
  if (o.undefinedLengthSequence !== false) {
    els.push({
      tag: 0x00081140,
      vr: 'SQ',
      undefinedLength: true,
      items: [
        [
          { tag: 0x00081150, vr: 'UI', value: r.sopClassUid },
          { tag: 0x00081155, vr: 'UI', value: newUid() },
        ],
      ],
    });
  }
  if (o.privateBlock !== false) {
    const p = o.privateBlock ?? { creator: 'XNATGW TEST', value: Uint8Array.from({ length: 16 }, (_, i) => i) };
    els.push({ tag: 0x00290010, vr: 'LO', value: p.creator }, { tag: 0x00291010, vr: 'OB', value: p.value });
  }
  const extra = new Set((o.extraElements ?? []).map((e) => e.tag));
  return [...els.filter((e) => !extra.has(e.tag)), ...(o.extraElements ?? [])];
}

function prefix(o: InstanceOptions, r: Resolved): Buffer {
  return o.omitFileMeta === true ? Buffer.alloc(0) : encodeFileMeta({ ...r, transferSyntax: r.transferSyntaxUid });
}

/** Encodes one instance in memory (for small instances; see `writeLargeInstance` for big ones). */
export function encodeInstance(opts: InstanceOptions = {}): { readonly bytes: Buffer } & Resolved {
  const r = resolve(opts);
  const rows = opts.rows ?? 16;
  const columns = opts.columns ?? 16;
  const s = syntaxOf(r.transferSyntaxUid);
  const pixels: Element = { tag: PIXEL_DATA, vr: 'OW', value: pixelPattern(rows, columns, opts.instanceNumber ?? 1) };
  const body = encodeDataset([...headerElements(opts, r, rows, columns), pixels], s);
  return { ...r, bytes: Buffer.concat([prefix(opts, r), body]) };
}

/** Writes one instance to `file` and returns its UIDs. */
export async function writeInstance(file: string, opts: InstanceOptions = {}): Promise<InstanceInfo> {
  const { bytes, ...r } = encodeInstance(opts);
  await writeFile(file, bytes);
  return { path: file, ...r, bytes: bytes.length };
}

/** Options for a series: one study and series UID shared by `count` instances numbered 1..count. */
export interface SeriesOptions extends Omit<InstanceOptions, 'sopInstanceUid' | 'instanceNumber'> {
  /** Number of instances. */
  readonly count: number;
}

/** Writes `count` instances as `<dir>/0001.dcm`, … (dir is created) and returns their paths in order. */
export async function writeSeries(dir: string, opts: SeriesOptions): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const shared = {
    ...opts,
    studyInstanceUid: opts.studyInstanceUid ?? newUid(),
    seriesInstanceUid: opts.seriesInstanceUid ?? newUid(),
    // One frame of reference per series, as a scanner would write it.
    frameOfReferenceUid: opts.frameOfReferenceUid ?? newUid(),
  };
  const paths: string[] = [];
  for (let i = 1; i <= opts.count; i++) {
    const path = join(dir, `${String(i).padStart(4, '0')}.dcm`);
    await writeInstance(path, { ...shared, instanceNumber: i });
    paths.push(path);
  }
  return paths;
}

/** Options for a streamed instance; `rows`/`columns` are derived from `bytes`. */
export interface LargeInstanceOptions extends Omit<InstanceOptions, 'rows' | 'columns'> {
  /** Minimum Pixel Data length in bytes; rounded up to a rows × columns × 2 image. At most 0xFFFFFFFE. */
  readonly bytes: number;
  /** Size of each write in bytes. Default 4 MiB. */
  readonly chunkBytes?: number;
}

/**
 * A 16-bit image with the fewest pixels ≥ `bytes / 2` whose sides fit in US (≤ 65535): exact for
 * sizes such as 1 GiB (16384 × 32768). Searching columns from √pixels up keeps rows ≤ columns.
 */
function largeGeometry(bytes: number): { rows: number; columns: number; pixelBytes: number } {
  const pixels = Math.max(1, Math.ceil(bytes / 2));
  let best: { rows: number; columns: number } | undefined;
  for (let columns = Math.ceil(Math.sqrt(pixels)); columns <= 0xffff; columns++) {
    const rows = Math.ceil(pixels / columns);
    if (best === undefined || rows * columns < best.rows * best.columns) {
      best = { rows, columns };
    }
    if (rows * columns === pixels) {
      break;
    }
  }
  const pixelBytes = best === undefined ? Infinity : best.rows * best.columns * 2;
  if (best === undefined || best.rows > 0xffff || pixelBytes > MAX_PIXEL_DATA_BYTES) {
    throw new RangeError(`Pixel Data of ${String(bytes)} bytes does not fit in a 16-bit image below 0xFFFFFFFE bytes.`);
  }
  return { ...best, pixelBytes };
}

/**
 * Streams a large instance to `file`: the header, then Pixel Data in `chunkBytes` writes from one
 * reused buffer, so memory stays flat for a 1 GB file. Each chunk starts with its index (u32) so a
 * reordered or dropped chunk changes the file's hash.
 */
export async function writeLargeInstance(
  file: string,
  opts: LargeInstanceOptions,
): Promise<InstanceInfo & { readonly pixelDataBytes: number }> {
  const r = resolve(opts);
  const { rows, columns, pixelBytes } = largeGeometry(opts.bytes);
  const s = syntaxOf(r.transferSyntaxUid);
  const head = Buffer.concat([
    prefix(opts, r),
    encodeDataset(headerElements(opts, r, rows, columns), s),
    elementHeader(PIXEL_DATA, 'OW', pixelBytes, s),
  ]);
  const chunkSize = Math.max(4, (opts.chunkBytes ?? 4 * 1024 * 1024) & ~1);
  const chunk = pixelPattern(1, chunkSize / 2, opts.instanceNumber ?? 1);
  const fh = await open(file, 'w');
  try {
    await fh.write(head);
    for (let offset = 0, index = 0; offset < pixelBytes; offset += chunkSize, index++) {
      chunk.writeUInt32LE(index, 0);
      const n = Math.min(chunkSize, pixelBytes - offset);
      for (let done = 0; done < n;) {
        done += (await fh.write(chunk, done, n - done)).bytesWritten;
      }
    }
  } finally {
    await fh.close();
  }
  return { path: file, ...r, bytes: head.length + pixelBytes, pixelDataBytes: pixelBytes };
}
