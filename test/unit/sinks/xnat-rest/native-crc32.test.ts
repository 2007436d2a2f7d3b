// yazl's CRC-32 runs on zlib (native-crc32.ts): same values as the ZIP CRC-32, and a zip of a
// series whose every entry's CRC an independent reader (Python's zipfile) checks.
import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, createWriteStream } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { useNativeCrc32, yazlCrc32Module } from '../../../../src/sinks/xnat-rest/native-crc32.ts';
import { zipSeries } from '../../../../src/sinks/xnat-rest/zip.ts';
import type { SeriesSnapshot } from '../../../../src/contracts/series.ts';

// The ZIP CRC-32 (IEEE 802.3, reflected), written out here as the reference.
const TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) {
    c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  }
  return c >>> 0;
});
const reference = (buf: Buffer, previous = 0): number => {
  let crc = (previous ^ 0xffffffff) >>> 0;
  for (const byte of buf) {
    crc = ((TABLE[(crc ^ byte) & 0xff] ?? 0) ^ (crc >>> 8)) >>> 0;
  }
  return (crc ^ 0xffffffff) >>> 0;
};

const dir = mkdtempSync(join(tmpdir(), 'xg-crc-'));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

describe('native CRC-32 for yazl', () => {
  it('gives the ZIP CRC-32 for whole buffers and for running values over chunks', () => {
    useNativeCrc32();
    const crc = yazlCrc32Module();
    for (const size of [0, 1, 7, 4096, 100_003]) {
      const buf = randomBytes(size);
      expect(crc.unsigned(buf)).toBe(reference(buf));
      const cut = Math.floor(size / 3);
      const running = crc.unsigned(buf.subarray(cut), crc.unsigned(buf.subarray(0, cut), 0));
      expect(running).toBe(reference(buf));
    }
    // The known check value of CRC-32 and a shape yazl never uses (a string) still answered.
    expect(crc.unsigned(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc.unsigned('123456789')).toBe(0xcbf43926);
  });

  it("writes a series zip whose entries' CRCs Python's zipfile verifies", async () => {
    const instances = [0, 1, 2].map((i) => {
      const path = join(dir, `i${String(i)}.dcm`);
      writeFileSync(path, randomBytes(200_000 + i * 77_777));
      return { sopInstanceUid: `1.2.3.${String(i)}`, path };
    });
    // What zipSeries reads of a snapshot: the series UID (entry folders) and each instance's file.
    const series = { seriesInstanceUid: '1.2.3', instances } as unknown as SeriesSnapshot;
    const out = join(dir, 'series.zip');
    await pipeline(zipSeries(series), createWriteStream(out));
    const report = execFileSync(
      'python3',
      ['-c', 'import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); print(len(z.namelist()), z.testzip())', out],
      { encoding: 'utf8' },
    );
    expect(report.trim()).toBe('3 None'); // None: no entry with a bad CRC
  });
});
