// Listing a drop: sizes, whole-ms mtimes, links, special files, clutter, marker, in-progress names.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEFAULT_IN_PROGRESS } from '../../../../src/sources/folder/config.ts';
import { nameMatcher } from '../../../../src/sources/folder/names.ts';
import { scanDrop, toNative, type ScanOptions } from '../../../../src/sources/folder/scan.ts';

describe('scanDrop', () => {
  let base: string;
  let root: string;
  let opts: ScanOptions;

  /** Writes `bytes` bytes at `rel` under the import folder, creating folders. */
  function put(rel: string, bytes: number): string {
    const abs = join(root, rel);
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, Buffer.alloc(bytes, 1));
    return abs;
  }

  beforeEach(() => {
    base = realpathSync(mkdtempSync(join(tmpdir(), 'xg-scan-')));
    root = join(base, 'import');
    mkdirSync(root);
    opts = { realRoot: root, isInProgress: nameMatcher(DEFAULT_IN_PROGRESS), marker: null };
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('lists a nested tree, sorted, with sizes, whole-ms mtimes and the total', async () => {
    put('drop/b/2.dcm', 20);
    put('drop/a.dcm', 1);
    put('drop/b/1.dcm', 10);
    put('drop/a/x.dcm', 300);
    const deep = put('drop/c/d/e/f.dcm', 4_000);
    // 1.234 567 s past a whole second: the listed mtime keeps the millisecond, drops the rest.
    utimesSync(deep, 1_700_000_000, 1_700_000_000.1234567);
    mkdirSync(join(root, 'drop', 'empty', 'dir'), { recursive: true });

    const s = await scanDrop(root, 'drop', opts);
    expect(s.files.map((f) => [f.rel, f.size])).toEqual([
      ['a.dcm', 1],
      ['a/x.dcm', 300],
      ['b/1.dcm', 10],
      ['b/2.dcm', 20],
      ['c/d/e/f.dcm', 4_000],
    ]);
    expect(s.files.map((f) => f.abs)).toEqual(s.files.map((f) => join(root, 'drop', toNative(f.rel))));
    expect(s.files.find((f) => f.rel === 'c/d/e/f.dcm')?.mtimeMs).toBe(1_700_000_000_123);
    for (const f of s.files) {
      expect(Number.isInteger(f.mtimeMs)).toBe(true);
      expect(f.problem).toBeUndefined();
      expect(f.clutter).toBeUndefined();
    }
    expect(s.bytes).toBe(4_331);
    expect(s.inProgress).toBeNull();
    expect(s.marker).toBe(false);
  });

  it('gives the same listing with one stat at a time', async () => {
    for (let i = 0; i < 40; i++) {
      put(`drop/s${String(i % 3)}/${String(i).padStart(3, '0')}.dcm`, i);
    }
    const wide = await scanDrop(root, 'drop', opts);
    const narrow = await scanDrop(root, 'drop', { ...opts, concurrency: 1 });
    expect(narrow).toEqual(wide);
    expect(wide.files).toHaveLength(40);
    expect(wide.bytes).toBe((39 * 40) / 2);
  });

  it('a loose file is a drop of one file with rel ""', async () => {
    const abs = put('IM0001', 123);
    utimesSync(abs, 1_700_000_000, 1_700_000_000.9999);
    const s = await scanDrop(root, 'IM0001', { ...opts, marker: '.ready' });
    expect(s).toEqual({
      files: [{ rel: '', abs, size: 123, mtimeMs: 1_700_000_000_999 }],
      inProgress: null,
      marker: false,
      bytes: 123,
    });
  });

  it('a loose file with an in-progress name is in progress', async () => {
    put('IM0001.part', 5);
    const s = await scanDrop(root, 'IM0001.part', opts);
    expect(s.inProgress).toBe('IM0001.part');
    expect(s.files).toHaveLength(1);
  });

  it('throws ENOENT when the drop itself vanished', async () => {
    await expect(scanDrop(root, 'gone', opts)).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it("lists a symlink to a file inside the import folder with the target's size and mtime", async () => {
    const target = put('other/real.dcm', 777);
    utimesSync(target, 1_600_000_000, 1_600_000_000.5);
    put('drop/a.dcm', 1);
    symlinkSync(target, join(root, 'drop', 'link.dcm'));
    // Relative links inside the drop too.
    symlinkSync('a.dcm', join(root, 'drop', 'rel-link.dcm'));
    const s = await scanDrop(root, 'drop', opts);
    expect(s.files).toEqual([
      { rel: 'a.dcm', abs: join(root, 'drop', 'a.dcm'), size: 1, mtimeMs: expect.any(Number) as number },
      { rel: 'link.dcm', abs: join(root, 'drop', 'link.dcm'), size: 777, mtimeMs: 1_600_000_000_500 },
      { rel: 'rel-link.dcm', abs: join(root, 'drop', 'rel-link.dcm'), size: 1, mtimeMs: s.files[0]?.mtimeMs },
    ]);
    expect(s.bytes).toBe(779);
  });

  it('a symlink out of the import folder, a dangling one, a loop and one to a folder are problems, never followed', async () => {
    const outside = join(base, 'secret.txt');
    writeFileSync(outside, 'outside the import folder');
    mkdirSync(join(root, 'drop', 'sub'), { recursive: true });
    put('drop/sub/inner.dcm', 50);
    symlinkSync(outside, join(root, 'drop', 'escape'));
    symlinkSync('../../secret.txt', join(root, 'drop', 'escape-rel'));
    symlinkSync(join(root, 'nothing-here'), join(root, 'drop', 'dangling'));
    symlinkSync('loop', join(root, 'drop', 'loop'));
    symlinkSync(join(root, 'drop', 'sub'), join(root, 'drop', 'dirlink'));
    // A link to the drop's own folder would make a walk that followed it loop forever.
    symlinkSync('.', join(root, 'drop', 'sub', 'self'));
    symlinkSync(base, join(root, 'drop', 'up'));

    const s = await scanDrop(root, 'drop', opts);
    const problems = Object.fromEntries(s.files.map((f) => [f.rel, f.problem ?? null]));
    expect(problems).toEqual({
      dangling: 'symbolic link to nothing (dangling)',
      dirlink: 'symbolic link to a folder or special file; not followed',
      escape: 'symbolic link leads outside the import folder; not followed',
      'escape-rel': 'symbolic link leads outside the import folder; not followed',
      loop: 'symbolic link to nothing (dangling)',
      'sub/inner.dcm': null,
      'sub/self': 'symbolic link to a folder or special file; not followed',
      up: 'symbolic link leads outside the import folder; not followed',
    });
    // A problem entry contributes no bytes.
    for (const f of s.files.filter((x) => x.problem !== undefined)) {
      expect(f.size).toBe(0);
    }
    expect(s.bytes).toBe(50);
  });

  it('a loose symlink drop pointing outside is a problem', async () => {
    const outside = join(base, 'secret.txt');
    writeFileSync(outside, 'x');
    symlinkSync(outside, join(root, 'IM0001'));
    const s = await scanDrop(root, 'IM0001', opts);
    expect(s.files).toEqual([
      expect.objectContaining({
        rel: '',
        size: 0,
        problem: 'symbolic link leads outside the import folder; not followed',
      }),
    ]);
  });

  // Regression: `relative(...).startsWith('..')` also matched a first component like `..x`.
  it('a symlink to a file inside a drop whose name starts with ".." is followed', async () => {
    put('..x/a.dcm', 10);
    symlinkSync('a.dcm', join(root, '..x', 'link.dcm'));
    const s = await scanDrop(root, '..x', opts);
    const link = s.files.find((f) => f.rel === 'link.dcm');
    expect(link?.problem).toBeUndefined();
    expect(link?.size).toBe(10);
  });

  it('a FIFO is a problem and the scan does not block on it', async () => {
    mkdirSync(join(root, 'drop'));
    put('drop/a.dcm', 3);
    execFileSync('mkfifo', [join(root, 'drop', 'pipe')]);
    execFileSync('mkfifo', [join(root, 'loose-pipe')]);
    const s = await scanDrop(root, 'drop', opts);
    expect(s.files.map((f) => [f.rel, f.problem ?? null])).toEqual([
      ['a.dcm', null],
      ['pipe', 'not a regular file (device, FIFO or socket); not read'],
    ]);
    const loose = await scanDrop(root, 'loose-pipe', opts);
    expect(loose.files).toEqual([
      expect.objectContaining({ rel: '', problem: 'not a regular file (device, FIFO or socket); not read' }),
    ]);
    // A symlink to the FIFO is refused without opening it either.
    symlinkSync(join(root, 'drop', 'pipe'), join(root, 'drop', 'pipe-link'));
    const again = await scanDrop(root, 'drop', opts);
    expect(again.files.find((f) => f.rel === 'pipe-link')?.problem).toBe(
      'symbolic link to a folder or special file; not followed',
    );
  });

  it('flags OS clutter files and skips clutter folders entirely', async () => {
    put('drop/a.dcm', 1);
    put('drop/.DS_Store', 6);
    put('drop/sub/Thumbs.db', 7);
    put('drop/sub/._a.dcm', 8);
    put('drop/__MACOSX/._a.dcm', 9);
    put('drop/__MACOSX/inner/x.part', 9);
    put('drop/$RECYCLE.BIN/b.dcm', 9);
    const s = await scanDrop(root, 'drop', opts);
    expect(s.files.map((f) => [f.rel, f.clutter ?? false])).toEqual([
      ['.DS_Store', true],
      ['a.dcm', false],
      ['sub/._a.dcm', true],
      ['sub/Thumbs.db', true],
    ]);
    // A .part file inside a skipped folder does not hold the drop back.
    expect(s.inProgress).toBeNull();
    expect(s.bytes).toBe(22);
  });

  it('the ready marker counts only at the top of the drop and is not listed', async () => {
    put('drop/a.dcm', 1);
    put('drop/.ready', 0);
    put('drop/sub/.ready', 0);
    const s = await scanDrop(root, 'drop', { ...opts, marker: '.ready' });
    expect(s.marker).toBe(true);
    expect(s.files.map((f) => f.rel)).toEqual(['a.dcm', 'sub/.ready']);

    rmSync(join(root, 'drop', '.ready'));
    const nested = await scanDrop(root, 'drop', { ...opts, marker: '.ready' });
    expect(nested.marker).toBe(false);
    expect(nested.files.map((f) => f.rel)).toEqual(['a.dcm', 'sub/.ready']);

    // A folder of that name is no marker, and without a configured marker the file is a plain file.
    mkdirSync(join(root, 'drop', '.ready'));
    expect((await scanDrop(root, 'drop', { ...opts, marker: '.ready' })).marker).toBe(false);
    rmSync(join(root, 'drop', '.ready'), { recursive: true });
    put('drop/.ready', 0);
    const unconfigured = await scanDrop(root, 'drop', opts);
    expect(unconfigured.marker).toBe(false);
    expect(unconfigured.files.map((f) => f.rel)).toEqual(['.ready', 'a.dcm', 'sub/.ready']);
  });

  it('detects an in-progress file at any depth, and an in-progress folder name', async () => {
    put('drop/a.dcm', 1);
    put('drop/s1/s2/IM0002.dcm.part', 1);
    const s = await scanDrop(root, 'drop', opts);
    expect(s.inProgress).toBe('drop/s1/s2/IM0002.dcm.part');
    // The file is still listed (its size is part of the stability digest).
    expect(s.files.map((f) => f.rel)).toContain('s1/s2/IM0002.dcm.part');

    rmSync(join(root, 'drop', 's1'), { recursive: true });
    mkdirSync(join(root, 'drop', 'series.tmp'));
    put('drop/series.tmp/IM0003.dcm', 1);
    expect((await scanDrop(root, 'drop', opts)).inProgress).toBe('drop/series.tmp');

    rmSync(join(root, 'drop', 'series.tmp'), { recursive: true });
    expect((await scanDrop(root, 'drop', opts)).inProgress).toBeNull();
    expect((await scanDrop(root, 'drop', { ...opts, isInProgress: () => false })).inProgress).toBeNull();
  });

  it('a drop folder with an in-progress name is in progress', async () => {
    put('upload.partial/a.dcm', 1);
    expect((await scanDrop(root, 'upload.partial', opts)).inProgress).toBe('upload.partial');
  });

  it('an empty drop folder has no files', async () => {
    mkdirSync(join(root, 'drop', 'a', 'b'), { recursive: true });
    expect(await scanDrop(root, 'drop', opts)).toEqual({ files: [], inProgress: null, marker: false, bytes: 0 });
  });
});
