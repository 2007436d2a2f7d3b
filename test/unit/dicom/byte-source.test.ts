import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  bufferSource,
  deflatedSource,
  EndOfData,
  fileSource,
  type ByteSource,
} from '../../../src/dicom/byte-source.ts';

/** 200 KiB of a known pattern: larger than the 64 KiB read chunk, so reads and skips cross chunks. */
const DATA = Buffer.from(Array.from({ length: 200 * 1024 }, (_, i) => (i * 31 + (i >> 8)) & 0xff));
const PREFIX = Buffer.from('PREFIX-TO-IGNORE');

describe.each([
  ['file', (path: string) => fileSource(path, PREFIX.length), (b: Buffer) => b],
  [
    'deflated',
    (path: string) => Promise.resolve(deflatedSource(path, PREFIX.length)),
    (b: Buffer) => deflateRawSync(b),
  ],
] as const)('%s byte source', (_kind, openSource, encode) => {
  let dir: string;
  let path: string;
  let src: ByteSource | undefined;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-bytes-'));
    path = join(dir, 'data.bin');
    writeFileSync(path, Buffer.concat([PREFIX, encode(DATA)]));
  });
  afterEach(async () => {
    await src?.close();
    src = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('starts at the offset and returns exactly the bytes asked for', async () => {
    src = await openSource(path);
    expect(await src.read(10)).toEqual(DATA.subarray(0, 10));
    expect(await src.read(3)).toEqual(DATA.subarray(10, 13));
    expect(src.position).toBe(13);
  });

  it('reads and skips across chunk boundaries, counting the position', async () => {
    src = await openSource(path);
    await src.skip(65_530);
    expect(await src.read(20)).toEqual(DATA.subarray(65_530, 65_550));
    await src.skip(100_000);
    expect(src.position).toBe(165_550);
    expect((await src.read(DATA.length - 165_550)).equals(DATA.subarray(165_550))).toBe(true);
    expect(src.position).toBe(DATA.length);
  });

  it('reads a value larger than one chunk in one call', async () => {
    src = await openSource(path);
    expect((await src.read(150_000)).equals(DATA.subarray(0, 150_000))).toBe(true);
  });

  it('throws EndOfData when a read runs past the end', async () => {
    src = await openSource(path);
    await src.skip(DATA.length - 4);
    await expect(src.read(8)).rejects.toThrow(EndOfData);
  });

  it('throws EndOfData when a skip runs past the end', async () => {
    src = await openSource(path);
    await expect(src.skip(DATA.length + 1)).rejects.toThrow(EndOfData);
  });

  it('reads the very last byte and then reports the end', async () => {
    src = await openSource(path);
    await src.skip(DATA.length - 1);
    expect(await src.read(1)).toEqual(DATA.subarray(DATA.length - 1));
    await expect(src.read(1)).rejects.toThrow(EndOfData);
  });
});

describe('buffer byte source', () => {
  it('reads and skips within the buffer, counting the position', async () => {
    const src = bufferSource(DATA.subarray(0, 100));
    expect(await src.read(4)).toEqual(DATA.subarray(0, 4));
    await src.skip(90);
    expect(src.position).toBe(94);
    expect(await src.read(6)).toEqual(DATA.subarray(94, 100));
    await src.close();
  });

  it('throws EndOfData for a read or skip past the end, without consuming anything', async () => {
    const src = bufferSource(DATA.subarray(0, 10));
    await src.skip(8);
    // Either a rejected promise or a synchronous throw is fine: callers always await.
    await expect(Promise.resolve().then(() => src.read(3))).rejects.toThrow(EndOfData);
    await expect(Promise.resolve().then(() => src.skip(3))).rejects.toThrow(EndOfData);
    expect(src.position).toBe(8);
    expect(await src.read(2)).toEqual(DATA.subarray(8, 10));
  });
});
