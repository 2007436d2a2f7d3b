import {
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { crc32, deflateRawSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  extractZip,
  ZipNoSpace,
  ZipRejected,
  type ZipLimits,
  type ZipResult,
} from '../../../../src/sources/folder/unzip.ts';
import { rawZip } from '../../../helpers/raw-zip.ts';

// yazl ships no types; this is the slice of its API the tests use.
interface YazlZipFile {
  addBuffer(
    data: Buffer,
    name: string,
    options?: { mode?: number; compress?: boolean; forceZip64Format?: boolean },
  ): void;
  addEmptyDirectory(name: string): void;
  end(): void;
  readonly outputStream: NodeJS.ReadableStream;
}
const yazl = createRequire(import.meta.url)('yazl') as { ZipFile: new () => YazlZipFile };

type YazlEntry = [
  name: string,
  data: Buffer | string,
  options?: { mode?: number; compress?: boolean; forceZip64Format?: boolean },
];

/** A real zip built by yazl; a name ending in '/' becomes an empty directory entry. */
async function yazlZip(entries: YazlEntry[]): Promise<Buffer> {
  const zip = new yazl.ZipFile();
  for (const [name, data, options] of entries) {
    if (name.endsWith('/')) {
      zip.addEmptyDirectory(name);
    } else {
      zip.addBuffer(Buffer.from(data), name, options);
    }
  }
  zip.end();
  return buffer(zip.outputStream);
}

/** Every file (not directory) below `dir`, as paths relative to it. */
function walk(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true })
    .flatMap((d) => {
      const rel = prefix === '' ? d.name : `${prefix}/${d.name}`;
      return d.isDirectory() ? walk(join(dir, d.name), rel) : [rel];
    })
    .sort();
}

function bytesUnder(dir: string): number {
  return existsSync(dir) ? walk(dir).reduce((n, rel) => n + statSync(join(dir, rel)).size, 0) : 0;
}

async function rejection(p: Promise<ZipResult>): Promise<ZipRejected> {
  const err: unknown = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ZipRejected);
  return err as ZipRejected;
}

const LIMITS: ZipLimits = { maxEntries: 100, maxExpandedBytes: 1024 * 1024 };

describe('extractZip', () => {
  let dir: string;
  let dest: string;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xg-unzip-'));
    dest = join(dir, 'one', 'two', 'dest');
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  function zipFile(bytes: Buffer): string {
    const p = join(dir, 'in.zip');
    writeFileSync(p, bytes);
    return p;
  }

  it('extracts nested folders in archive order with their sizes, files 0640 and directories 0750', async () => {
    const img1 = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7) % 251));
    const img2 = Buffer.alloc(5000, 0x41);
    const zip = zipFile(
      await yazlZip([
        ['study/series1/img1.dcm', img1],
        ['empty/', ''],
        ['study/series2/img2.dcm', img2],
        ['top.dcm', 'stored', { compress: false }],
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r).toEqual({
      files: [
        { rel: 'study/series1/img1.dcm', abs: join(dest, 'study', 'series1', 'img1.dcm'), size: 1000 },
        { rel: 'study/series2/img2.dcm', abs: join(dest, 'study', 'series2', 'img2.dcm'), size: 5000 },
        { rel: 'top.dcm', abs: join(dest, 'top.dcm'), size: 6 },
      ],
      skipped: [],
    });
    expect(readFileSync(join(dest, 'study', 'series1', 'img1.dcm')).equals(img1)).toBe(true);
    expect(readFileSync(join(dest, 'study', 'series2', 'img2.dcm')).equals(img2)).toBe(true);
    expect(readFileSync(join(dest, 'top.dcm'), 'utf8')).toBe('stored');
    // Directory entries create nothing.
    expect(existsSync(join(dest, 'empty'))).toBe(false);
    expect(statSync(join(dest, 'top.dcm')).mode & 0o777).toBe(0o640);
    expect(statSync(join(dest, 'study', 'series1')).mode & 0o777).toBe(0o750);
  });

  it('reads zip64 archives', async () => {
    const zip = zipFile(await yazlZip([['a/b.dcm', 'zip64 body', { forceZip64Format: true }]]));
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files).toEqual([{ rel: 'a/b.dcm', abs: join(dest, 'a', 'b.dcm'), size: 10 }]);
    expect(readFileSync(join(dest, 'a', 'b.dcm'), 'utf8')).toBe('zip64 body');
  });

  it('skips names that climb out of the archive and writes nothing outside destDir', async () => {
    const evil = '/etc/xg-unzip-evil.txt';
    const zip = zipFile(
      rawZip([
        { name: 'ok.txt', data: Buffer.from('ok') },
        { name: '../evil.txt', data: Buffer.from('evil') },
        { name: evil, data: Buffer.from('evil') },
        { name: 'C:\\x', data: Buffer.from('evil') },
        { name: '\\\\server\\share\\x', data: Buffer.from('evil') },
        { name: 'a/../../x', data: Buffer.from('evil') },
        { name: 'a\\..\\..\\..\\y', data: Buffer.from('evil') },
        { name: 'fine/ok2.txt', data: Buffer.from('ok2') },
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files.map((f) => f.rel)).toEqual(['ok.txt', 'fine/ok2.txt']);
    const reason = 'path escapes the archive';
    expect(r.skipped).toEqual([
      { rel: '../evil.txt', reason },
      { rel: evil, reason },
      { rel: 'C:/x', reason },
      { rel: '//server/share/x', reason },
      { rel: 'a/../../x', reason },
      { rel: 'a/../../../y', reason },
    ]);
    expect(walk(dir)).toEqual(['in.zip', 'one/two/dest/fine/ok2.txt', 'one/two/dest/ok.txt']);
    expect(existsSync(evil)).toBe(false);
  });

  it('skips symbolic links and other non-regular entries', async () => {
    const zip = zipFile(
      await yazlZip([
        ['link', '/etc/passwd', { mode: 0o120777 }],
        ['fifo', '', { mode: 0o010644 }],
        ['real.txt', 'real'],
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files.map((f) => f.rel)).toEqual(['real.txt']);
    expect(r.skipped).toEqual([
      { rel: 'link', reason: 'symbolic link not extracted' },
      { rel: 'fifo', reason: 'not a regular file (mode 0o10000)' },
    ]);
    expect(walk(dest)).toEqual(['real.txt']);
  });

  it('skips encrypted entries, unknown compression methods and entries whose CRC-32 is wrong', async () => {
    const body = Buffer.from('some bytes');
    const zip = zipFile(
      rawZip([
        { name: 'secret.dcm', data: Buffer.alloc(12 + body.length), size: body.length, flags: 0x801 },
        { name: 'bzip2.dcm', data: body, method: 12, compressed: body },
        { name: 'badcrc.dcm', data: body, crc: (crc32(body) ^ 1) >>> 0 },
        { name: 'good.dcm', data: body },
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.skipped).toEqual([
      { rel: 'secret.dcm', reason: 'encrypted entry' },
      { rel: 'bzip2.dcm', reason: 'unsupported compression method 12' },
      { rel: 'badcrc.dcm', reason: 'corrupt entry: CRC-32 mismatch' },
    ]);
    expect(r.files.map((f) => f.rel)).toEqual(['good.dcm']);
    // The half-written corrupt entry is gone.
    expect(walk(dest)).toEqual(['good.dcm']);
  });

  it('skips entries whose deflate data or local header is corrupt, and carries on', async () => {
    const bytes = rawZip([
      { name: 'zbad.dcm', data: Buffer.alloc(100), method: 8, compressed: Buffer.from([0xff, 0xfe, 0xfd, 1, 2, 3, 4]) },
      { name: 'nohdr.dcm', data: Buffer.from('x') },
      { name: 'good.dcm', data: Buffer.from('good') },
    ]);
    // Clobber the signature of the second local header (after 30 + name + 7 bytes of the first entry).
    bytes.writeUInt32LE(0, 30 + 'zbad.dcm'.length + 7);
    const r = await extractZip(zipFile(bytes), dest, LIMITS);
    expect(r.skipped).toEqual([
      { rel: 'zbad.dcm', reason: expect.stringMatching(/^corrupt entry: .*invalid/) as unknown },
      { rel: 'nohdr.dcm', reason: 'corrupt entry: invalid local file header signature: 0x0' },
    ]);
    expect(r.files.map((f) => f.rel)).toEqual(['good.dcm']);
    expect(walk(dest)).toEqual(['good.dcm']);
  });

  it('refuses more entries than the limit before writing anything, and accepts exactly the limit', async () => {
    const zip = zipFile(await yazlZip([1, 2, 3, 4, 5].map((i): YazlEntry => [`f${String(i)}.dcm`, 'x'])));
    const err = await rejection(extractZip(zip, dest, { ...LIMITS, maxEntries: 4 }));
    expect(err.message).toBe('5 entries exceed the limit of 4');
    expect(err.name).toBe('ZipRejected');
    expect(existsSync(dest) ? walk(dest) : []).toEqual([]);

    const r = await extractZip(zip, dest, { ...LIMITS, maxEntries: 5 });
    expect(r.files).toHaveLength(5);
  });

  it('refuses an archive whose declared sizes add up to more than the limit', async () => {
    const zip = zipFile(
      await yazlZip([
        ['a.dcm', Buffer.alloc(1500)],
        ['b.dcm', Buffer.alloc(500)],
      ]),
    );
    const err = await rejection(extractZip(zip, dest, { ...LIMITS, maxExpandedBytes: 1999 }));
    expect(err.message).toBe('declared expanded size of 2000 bytes exceeds the limit of 1999 bytes');
    expect(existsSync(dest) ? walk(dest) : []).toEqual([]);

    const r = await extractZip(zip, dest, { ...LIMITS, maxExpandedBytes: 2000 });
    expect(r.files.map((f) => f.size)).toEqual([1500, 500]);
  });

  it('never writes more than the limit for an entry that lies about its size (zip bomb)', async () => {
    const zeros = Buffer.alloc(16 * 1024 * 1024);
    const limit = 1024 * 1024;
    const zip = zipFile(
      rawZip([
        { name: 'small.dcm', data: Buffer.from('small') },
        { name: 'bomb.bin', data: zeros, method: 8, compressed: deflateRawSync(zeros), size: 100 },
        { name: 'after.dcm', data: Buffer.from('after') },
      ]),
    );
    let outcome: ZipResult | ZipRejected;
    try {
      outcome = await extractZip(zip, dest, { maxEntries: 10, maxExpandedBytes: limit });
    } catch (err) {
      expect(err).toBeInstanceOf(ZipRejected);
      outcome = err as ZipRejected;
    }
    if (!(outcome instanceof ZipRejected)) {
      expect(outcome.skipped).toEqual([
        { rel: 'bomb.bin', reason: expect.stringMatching(/^corrupt entry: /) as unknown },
      ]);
      expect(outcome.files.map((f) => f.rel)).toEqual(['small.dcm', 'after.dcm']);
    }
    expect(bytesUnder(dest)).toBeLessThanOrEqual(limit);
    expect(existsSync(join(dest, 'bomb.bin'))).toBe(false);
  });

  it('refuses a file that is not a zip', async () => {
    const zip = zipFile(Buffer.from('DICM this is not a zip archive at all, just some text\n'));
    const err = await rejection(extractZip(zip, dest, LIMITS));
    expect(err.message).toMatch(/^not a valid zip archive: /);
    expect(existsSync(dest)).toBe(false);
  });

  it('refuses a truncated zip', async () => {
    const whole = await yazlZip([
      ['a.dcm', Buffer.alloc(4000, 1)],
      ['b.dcm', Buffer.alloc(4000, 2)],
    ]);
    const zip = zipFile(whole.subarray(0, Math.floor(whole.length / 2)));
    const err = await rejection(extractZip(zip, dest, LIMITS));
    expect(err.message).toMatch(/^not a valid zip archive: /);
    expect(existsSync(dest)).toBe(false);
  });

  it('keeps duplicate names with a numbered suffix before the extension, never overwriting', async () => {
    const zip = zipFile(
      await yazlZip([
        ['dir/a.dcm', 'one'],
        ['dir/a.dcm', 'two'],
        ['noext', 'first'],
        ['dir/a.dcm', 'three'],
        ['noext', 'second'],
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files.map((f) => f.rel)).toEqual(['dir/a.dcm', 'dir/a (2).dcm', 'noext', 'dir/a (3).dcm', 'noext (2)']);
    expect(r.files.map((f) => readFileSync(f.abs, 'utf8'))).toEqual(['one', 'two', 'first', 'three', 'second']);
    expect(r.skipped).toEqual([]);
  });

  it('does not overwrite files already in destDir', async () => {
    mkdirSync(dest, { recursive: true });
    writeFileSync(join(dest, 'a.dcm'), 'already here');
    const zip = zipFile(await yazlZip([['a.dcm', 'from zip']]));
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files).toEqual([{ rel: 'a (2).dcm', abs: join(dest, 'a (2).dcm'), size: 8 }]);
    expect(readFileSync(join(dest, 'a.dcm'), 'utf8')).toBe('already here');
  });

  it('skips an entry whose folder is an earlier file', async () => {
    const zip = zipFile(
      rawZip([
        { name: 'a', data: Buffer.from('file') },
        { name: 'a/b.dcm', data: Buffer.from('below a file') },
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files.map((f) => f.rel)).toEqual(['a']);
    expect(r.skipped).toEqual([{ rel: 'a/b.dcm', reason: 'path conflicts with another entry' }]);
  });

  it('does not follow a symbolic link already sitting in destDir', async () => {
    const outside = join(dir, 'outside');
    mkdirSync(outside);
    mkdirSync(dest, { recursive: true });
    symlinkSync(outside, join(dest, 'link'));
    const zip = zipFile(
      rawZip([
        { name: 'link/x.dcm', data: Buffer.from('x') },
        { name: 'link/sub/y.dcm', data: Buffer.from('y') },
      ]),
    );
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.files).toEqual([]);
    expect(r.skipped.map((s) => s.reason)).toEqual([
      'path conflicts with another entry',
      'path conflicts with another entry',
    ]);
    expect(readdirSync(outside)).toEqual([]);
    expect(lstatSync(join(dest, 'link')).isSymbolicLink()).toBe(true);
  });

  it('keeps names with spaces, Unicode and characters Windows reserves', async () => {
    const names = ['Patient Scans/Ünïcødé 日本/scan 1.dcm', 'what?*:"<>|.dcm', 'dir with space/ end .dcm'];
    const zip = zipFile(await yazlZip(names.map((n, i): YazlEntry => [n, `body ${String(i)}`])));
    const r = await extractZip(zip, dest, LIMITS);
    expect(r.skipped).toEqual([]);
    expect(r.files.map((f) => f.rel)).toEqual(names);
    names.forEach((n, i) => {
      expect(readFileSync(join(dest, ...n.split('/')), 'utf8')).toBe(`body ${String(i)}`);
    });
  });

  describe('expansion checked from the central directory and held to it (zip bombs, a full disk)', () => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);

    it('refuses an archive declaring more than maxRatio times its own size, before writing anything', async () => {
      const zip = zipFile(rawZip([{ name: 'zeros.dcm', data: zeros, method: 8, compressed: deflateRawSync(zeros) }]));
      const err = await rejection(extractZip(zip, dest, { ...LIMITS, maxExpandedBytes: null, maxRatio: 50 }));
      expect(err.message).toMatch(
        /^expands to 8388608 bytes, \d+ times its own \d+ bytes \(limit folder\.maxZipRatio 50\)/,
      );
      expect(existsSync(dest)).toBe(false);
      // Real images compress a few times: the same size of noise passes.
      const noise = zipFile(
        await yazlZip([
          ['noise.dcm', Buffer.from(Array.from({ length: 100_000 }, () => Math.floor(Math.random() * 256)))],
        ]),
      );
      expect((await extractZip(noise, dest, { ...LIMITS, maxExpandedBytes: null, maxRatio: 50 })).files).toHaveLength(
        1,
      );
    });

    it('stops an archive that inflates beyond what it declares at the declared total', async () => {
      const zip = zipFile(
        rawZip([
          { name: 'a.dcm', data: Buffer.from('hello') },
          { name: 'bomb.dcm', data: zeros, method: 8, compressed: deflateRawSync(zeros), size: 1000 },
        ]),
      );
      const outcome = await extractZip(zip, dest, { ...LIMITS, maxExpandedBytes: null, maxRatio: 50 }).then(
        (r) => r,
        (e: unknown) => e,
      );
      if (outcome instanceof ZipRejected) {
        expect(outcome.message).toMatch(/inflates to more than the 1005 bytes its central directory declares/);
      } else {
        expect((outcome as ZipResult).skipped.map((x) => x.rel)).toEqual(['bomb.dcm']);
      }
      expect(bytesUnder(dest)).toBeLessThanOrEqual(1005);
    });

    it('takes the declared expansion from `reserve` first: refused, nothing is written and it may be tried later', async () => {
      const zip = zipFile(await yazlZip([['a.dcm', Buffer.alloc(3000, 7)]]));
      const asked: number[] = [];
      const err: unknown = await extractZip(zip, dest, {
        ...LIMITS,
        reserve: (bytes) => (asked.push(bytes), new ZipNoSpace('no room')),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ZipNoSpace);
      expect(asked).toEqual([3000]);
      expect(existsSync(dest)).toBe(false);
      let released = 0;
      let landed = 0;
      const r = await extractZip(zip, dest, {
        ...LIMITS,
        reserve: () => ({
          take: () => true,
          landed: (n) => {
            landed += n;
          },
          release: () => {
            released++;
          },
          taken: 0,
        }),
      });
      expect(r.files).toHaveLength(1);
      expect([landed, released]).toEqual([3000, 1]);
    });

    it('stops at once when its signal aborts (shutdown) and leaves nothing behind', async () => {
      const entries: YazlEntry[] = Array.from({ length: 200 }, (_, i) => [
        `f${String(i)}.dcm`,
        Buffer.alloc(64 * 1024, i),
      ]);
      const zip = zipFile(await yazlZip(entries));
      const c = new AbortController();
      const started = Date.now();
      const p = extractZip(zip, dest, { ...LIMITS, maxExpandedBytes: null, signal: c.signal });
      setTimeout(() => {
        c.abort(new Error('stopping'));
      }, 5);
      const err: unknown = await p.catch((e: unknown) => e);
      expect(err).toBeInstanceOf(Error);
      expect(Date.now() - started).toBeLessThan(2000);
      expect(existsSync(dest) ? walk(dest) : []).toEqual([]);
    });
  });
});
