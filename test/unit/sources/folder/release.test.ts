// Releasing a drop: handled files to processed/ (or deleted), rejected ones out with rejected.json.
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { freeName, moveFile, releaseDrop, type ReleaseInput } from '../../../../src/sources/folder/release.ts';

// rename() can be made to fail with an errno a given number of times; every call is logged.
const hooks = vi.hoisted(() => ({
  renameError: null as { code: string; times: number; when?: (from: string) => boolean } | null,
  renames: [] as [string, string][],
  copies: [] as [string, string][],
}));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    rename: (from: string, to: string) => {
      hooks.renames.push([from, to]);
      const e = hooks.renameError;
      if (e && e.times > 0 && (e.when?.(from) ?? true)) {
        e.times--;
        return Promise.reject(
          Object.assign(new Error(`${e.code}: simulated, rename '${from}' -> '${to}'`), { code: e.code }),
        );
      }
      return real.rename(from, to);
    },
    copyFile: (...args: Parameters<typeof real.copyFile>) => {
      hooks.copies.push([String(args[0]), String(args[1])]);
      return real.copyFile(...args);
    },
  };
});

interface Report {
  drop: string;
  dropId: number;
  importFolder: string;
  releasedAt: string;
  files: { file: string; size: number; code: string; reason: string; action: string }[];
}

/** Every file under `dir`, '/'-separated, sorted; [] when `dir` does not exist. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) =>
      join(e.parentPath, e.name)
        .slice(dir.length + 1)
        .split('\\')
        .join('/'),
    )
    .sort();
}
/** Every folder under `dir`, '/'-separated, sorted. */
function folders(dir: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

const AT = Date.UTC(2024, 0, 2, 3, 4, 5, 6);

describe('releaseDrop', () => {
  let base: string;
  let root: string;
  let processed: string;
  let rejected: string;

  function put(rel: string, content = `content of ${rel}`): void {
    const abs = join(root, rel);
    mkdirSync(join(abs, '..'), { recursive: true });
    writeFileSync(abs, content);
  }
  const input = (o: Partial<ReleaseInput>): ReleaseInput => ({
    dropId: 7,
    dropName: 'drop',
    dropAbs: join(root, 'drop'),
    kind: 'folder',
    handled: [],
    rejected: [],
    disposition: `move:${join(processed, 'drop')}`,
    rejectedTo: null,
    nonDicom: 'reject',
    importRoot: root,
    at: AT,
    ...o,
  });
  const report = (dir: string): Report => JSON.parse(readFileSync(join(dir, 'rejected.json'), 'utf8')) as Report;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'xg-release-'));
    root = join(base, 'import');
    processed = join(base, 'processed');
    rejected = join(base, 'rejected');
    mkdirSync(root);
    hooks.renameError = null;
    hooks.renames = [];
    hooks.copies = [];
  });
  afterEach(() => {
    rmSync(base, { recursive: true, force: true });
  });

  it('move: handled files go to processed/ keeping their paths; a file added after the read stays', async () => {
    for (const rel of [
      'drop/1.dcm',
      'drop/a/2.dcm',
      'drop/a/b/3.dcm',
      'drop/c/d/4.dcm',
      'drop/late.dcm',
      'drop/a/b/late2.dcm',
    ]) {
      put(rel);
    }
    mkdirSync(join(root, 'drop', 'empty', 'deeper'), { recursive: true });
    const r = await releaseDrop(input({ handled: ['1.dcm', 'a/2.dcm', 'a/b/3.dcm', 'c/d/4.dcm'] }));
    expect(r).toEqual({ moved: 4, deleted: 0, rejectedMoved: 0 });
    expect(tree(join(processed, 'drop'))).toEqual(['1.dcm', 'a/2.dcm', 'a/b/3.dcm', 'c/d/4.dcm']);
    expect(readFileSync(join(processed, 'drop', 'a', 'b', '3.dcm'), 'utf8')).toBe('content of drop/a/b/3.dcm');
    // What was not read stays where it was; folders left empty are pruned, the others kept.
    expect(tree(join(root, 'drop'))).toEqual(['a/b/late2.dcm', 'late.dcm']);
    expect(folders(join(root, 'drop'))).toEqual(['a', join('a', 'b')]);
    // Nothing rejected: no rejected folder, no report.
    expect(existsSync(rejected)).toBe(false);
  });

  it('move: a drop folder left empty is removed', async () => {
    put('drop/x/1.dcm');
    put('drop/2.dcm');
    expect(await releaseDrop(input({ handled: ['x/1.dcm', '2.dcm'] }))).toEqual({
      moved: 2,
      deleted: 0,
      rejectedMoved: 0,
    });
    expect(existsSync(join(root, 'drop'))).toBe(false);
    expect(readdirSync(root)).toEqual([]);
  });

  it('delete: only the handled files are deleted', async () => {
    for (const rel of ['drop/1.dcm', 'drop/a/2.dcm', 'drop/a/late.dcm', 'drop/b/3.dcm']) {
      put(rel);
    }
    const r = await releaseDrop(input({ disposition: 'delete', handled: ['1.dcm', 'a/2.dcm', 'b/3.dcm'] }));
    expect(r).toEqual({ moved: 0, deleted: 3, rejectedMoved: 0 });
    expect(tree(join(root, 'drop'))).toEqual(['a/late.dcm']);
    expect(folders(join(root, 'drop'))).toEqual(['a']);
    expect(existsSync(processed)).toBe(false);
  });

  it('a loose file drop is moved to its disposition path, or deleted', async () => {
    put('IM0001', 'loose');
    const dst = join(processed, 'IM0001');
    expect(
      await releaseDrop(
        input({
          dropName: 'IM0001',
          dropAbs: join(root, 'IM0001'),
          kind: 'file',
          handled: [''],
          disposition: `move:${dst}`,
        }),
      ),
    ).toEqual({ moved: 1, deleted: 0, rejectedMoved: 0 });
    expect(readFileSync(dst, 'utf8')).toBe('loose');
    expect(readdirSync(root)).toEqual([]);

    put('IM0002', 'loose');
    expect(
      await releaseDrop(
        input({
          dropName: 'IM0002',
          dropAbs: join(root, 'IM0002'),
          kind: 'file',
          handled: [''],
          disposition: 'delete',
        }),
      ),
    ).toEqual({ moved: 0, deleted: 1, rejectedMoved: 0 });
    expect(readdirSync(root)).toEqual([]);
  });

  it("an archive drop's entries are not files on disk: only the archive itself moves", async () => {
    put('scan.zip', 'zip bytes');
    const dst = join(processed, 'scan.zip');
    const r = await releaseDrop(
      input({
        dropName: 'scan.zip',
        dropAbs: join(root, 'scan.zip'),
        kind: 'file',
        handled: ['', 'scan.zip/a.dcm'],
        disposition: `move:${dst}`,
      }),
    );
    expect(r).toEqual({ moved: 1, deleted: 0, rejectedMoved: 0 });
    expect(readFileSync(dst, 'utf8')).toBe('zip bytes');
  });

  it('rejected files are moved out with rejected.json listing file, size, code, reason and action', async () => {
    put('drop/ok.dcm');
    put('drop/notes.txt', 'notes');
    put('drop/sub/cut.dcm', 'cut');
    const to = join(rejected, 'drop');
    const r = await releaseDrop(
      input({
        handled: ['ok.dcm'],
        rejectedTo: to,
        rejected: [
          {
            rel: 'notes.txt',
            size: 5,
            code: ErrorCode.FOLDER_NOT_DICOM,
            reason: 'not DICOM (no preamble, no recognisable dataset)',
          },
          { rel: 'sub/cut.dcm', size: 3, code: ErrorCode.FOLDER_TRUNCATED, reason: 'truncated DICOM file: cut short' },
          { rel: 'archive.zip/inner/readme.txt', size: 0, code: ErrorCode.FOLDER_ZIP_REJECTED, reason: 'not DICOM' },
        ],
      }),
    );
    expect(r).toEqual({ moved: 1, deleted: 0, rejectedMoved: 2 });
    expect(tree(to)).toEqual(['notes.txt', 'rejected.json', 'sub/cut.dcm']);
    expect(readFileSync(join(to, 'sub', 'cut.dcm'), 'utf8')).toBe('cut');
    expect(report(to)).toEqual({
      drop: 'drop',
      dropId: 7,
      importFolder: root,
      releasedAt: '2024-01-02T03:04:05.006Z',
      files: [
        {
          file: 'notes.txt',
          size: 5,
          code: 'ERR_FOLDER_NOT_DICOM',
          reason: 'not DICOM (no preamble, no recognisable dataset)',
          action: 'moved here',
        },
        {
          file: 'sub/cut.dcm',
          size: 3,
          code: 'ERR_FOLDER_TRUNCATED',
          reason: 'truncated DICOM file: cut short',
          action: 'moved here',
        },
        {
          file: 'archive.zip/inner/readme.txt',
          size: 0,
          code: 'ERR_FOLDER_ZIP_REJECTED',
          reason: 'not DICOM',
          action: 'inside an archive',
        },
      ],
    });
    expect(existsSync(join(root, 'drop'))).toBe(false);
    expect(tree(join(processed, 'drop'))).toEqual(['ok.dcm']);
  });

  it('a rejected file someone removed is reported as already gone', async () => {
    const to = join(rejected, 'drop');
    mkdirSync(join(root, 'drop'));
    await releaseDrop(
      input({
        rejectedTo: to,
        rejected: [{ rel: 'gone.txt', size: 1, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'r' }],
      }),
    );
    expect(report(to).files).toEqual([
      { file: 'gone.txt', size: 1, code: 'ERR_FOLDER_NOT_DICOM', reason: 'r', action: 'was already gone' },
    ]);
  });

  it("a rejected loose file goes to rejected/<drop>/<name>, reported by the drop's name", async () => {
    put('notes.txt', 'n');
    const to = join(rejected, 'notes.txt');
    const r = await releaseDrop(
      input({
        dropName: 'notes.txt',
        dropAbs: join(root, 'notes.txt'),
        kind: 'file',
        rejectedTo: to,
        disposition: 'delete',
        rejected: [{ rel: '', size: 1, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'not DICOM' }],
      }),
    );
    expect(r).toEqual({ moved: 0, deleted: 0, rejectedMoved: 1 });
    expect(tree(to)).toEqual(['notes.txt', 'rejected.json']);
    expect(report(to).files).toEqual([
      { file: 'notes.txt', size: 1, code: 'ERR_FOLDER_NOT_DICOM', reason: 'not DICOM', action: 'moved here' },
    ]);
    expect(readdirSync(root)).toEqual([]);
  });

  it('nonDicom delete deletes only the ERR_FOLDER_NOT_DICOM files; truncated and unreadable ones are kept', async () => {
    put('drop/junk.txt');
    put('drop/cut.dcm');
    put('drop/locked.dcm');
    put('drop/link');
    const to = join(rejected, 'drop');
    const r = await releaseDrop(
      input({
        nonDicom: 'delete',
        rejectedTo: to,
        rejected: [
          { rel: 'junk.txt', size: 1, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'not DICOM' },
          { rel: 'cut.dcm', size: 2, code: ErrorCode.FOLDER_TRUNCATED, reason: 'cut' },
          {
            rel: 'locked.dcm',
            size: 3,
            code: ErrorCode.FOLDER_UNREADABLE,
            reason: 'unreadable: permission denied (EACCES)',
          },
          { rel: 'link', size: 0, code: ErrorCode.FOLDER_NOT_FOLLOWED, reason: 'dangling' },
        ],
      }),
    );
    expect(r).toEqual({ moved: 0, deleted: 0, rejectedMoved: 3 });
    expect(tree(to)).toEqual(['cut.dcm', 'link', 'locked.dcm', 'rejected.json']);
    expect(report(to).files.map((f) => [f.file, f.action])).toEqual([
      ['junk.txt', 'deleted (folder.nonDicom: delete)'],
      ['cut.dcm', 'moved here'],
      ['locked.dcm', 'moved here'],
      ['link', 'moved here'],
    ]);
    expect(existsSync(join(root, 'drop'))).toBe(false);
  });

  it('running a completed release again changes nothing, does not throw, and rewrites the same report', async () => {
    put('drop/a/1.dcm', 'one');
    put('drop/notes.txt', 'notes');
    const to = join(rejected, 'drop');
    const once = input({
      handled: ['a/1.dcm'],
      rejectedTo: to,
      rejected: [{ rel: 'notes.txt', size: 5, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'not DICOM' }],
    });
    expect(await releaseDrop(once)).toEqual({ moved: 1, deleted: 0, rejectedMoved: 1 });
    const first = readFileSync(join(to, 'rejected.json'), 'utf8');
    expect(await releaseDrop(once)).toEqual({ moved: 0, deleted: 0, rejectedMoved: 0 });
    expect(readFileSync(join(to, 'rejected.json'), 'utf8')).toBe(first);
    expect(report(to).files[0]?.action).toBe('moved here');
    expect(tree(to)).toEqual(['notes.txt', 'rejected.json']);
    expect(readFileSync(join(processed, 'drop', 'a', '1.dcm'), 'utf8')).toBe('one');
    expect(existsSync(join(root, 'drop'))).toBe(false);
  });

  it('a release interrupted half-way (a rename failing) finishes on the second run', async () => {
    put('drop/1.dcm');
    put('drop/2.dcm');
    put('drop/bad.txt');
    const to = join(rejected, 'drop');
    const plan = input({
      handled: ['1.dcm', '2.dcm'],
      rejectedTo: to,
      rejected: [{ rel: 'bad.txt', size: 1, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'x' }],
    });
    hooks.renameError = { code: 'EIO', times: 1, when: (from) => from.endsWith('2.dcm') };
    await expect(releaseDrop(plan)).rejects.toMatchObject({ code: 'EIO' });
    // The rejected file, its report and 1.dcm are out; 2.dcm is still in the drop.
    expect(tree(join(root, 'drop'))).toEqual(['2.dcm']);
    expect(tree(to)).toEqual(['bad.txt', 'rejected.json']);
    expect(await releaseDrop(plan)).toEqual({ moved: 1, deleted: 0, rejectedMoved: 0 });
    expect(tree(join(processed, 'drop'))).toEqual(['1.dcm', '2.dcm']);
    expect(report(to).files.map((f) => [f.file, f.action])).toEqual([['bad.txt', 'moved here']]);
    expect(existsSync(join(root, 'drop'))).toBe(false);
  });

  it('a file system error other than a vanished source is thrown, leaving the file in place', async () => {
    put('drop/1.dcm');
    hooks.renameError = { code: 'EACCES', times: 1 };
    await expect(releaseDrop(input({ handled: ['1.dcm'] }))).rejects.toMatchObject({ code: 'EACCES' });
    expect(tree(join(root, 'drop'))).toEqual(['1.dcm']);
    // The retry succeeds.
    expect(await releaseDrop(input({ handled: ['1.dcm'] }))).toEqual({ moved: 1, deleted: 0, rejectedMoved: 0 });
  });

  // Regression: a re-run after a crash must still say the gateway deleted the file.
  it('re-running a release with nonDicom delete still reports the deletion', async () => {
    put('drop/junk.txt');
    put('drop/cut.dcm');
    const to = join(rejected, 'drop');
    const plan = input({
      nonDicom: 'delete',
      rejectedTo: to,
      rejected: [
        { rel: 'junk.txt', size: 1, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'not DICOM' },
        { rel: 'cut.dcm', size: 2, code: ErrorCode.FOLDER_TRUNCATED, reason: 'cut' },
      ],
    });
    await releaseDrop(plan);
    await releaseDrop(plan);
    expect(report(to).files.map((f) => [f.file, f.action])).toEqual([
      ['junk.txt', 'deleted (folder.nonDicom: delete)'],
      ['cut.dcm', 'moved here'],
    ]);
  });
});

describe('freeName', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-freename-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("is the drop's own name while that is free", async () => {
    expect(await freeName(dir, 'drop', 12, 'folder')).toBe(join(dir, 'drop'));
    expect(await freeName(dir, 'IM0001', 12, 'file')).toBe(join(dir, 'IM0001'));
    // A missing parent folder is fine: it is created when the drop moves.
    expect(await freeName(join(dir, 'not', 'yet'), 'drop', 12, 'folder')).toBe(join(dir, 'not', 'yet', 'drop'));
  });

  it('tags a folder after its name and a file before it, keeping the extension', async () => {
    mkdirSync(join(dir, 'drop'));
    writeFileSync(join(dir, 'scan.zip'), '');
    expect(await freeName(dir, 'drop', 12, 'folder')).toBe(join(dir, 'drop.12'));
    expect(await freeName(dir, 'scan.zip', 12, 'file')).toBe(join(dir, '12.scan.zip'));
  });

  it('a dangling symlink makes the name taken', async () => {
    symlinkSync(join(dir, 'nowhere'), join(dir, 'drop'));
    expect(await freeName(dir, 'drop', 3, 'folder')).toBe(join(dir, 'drop.3'));
  });
});

describe('moveFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-move-'));
    hooks.renameError = null;
    hooks.renames = [];
    hooks.copies = [];
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('renames, creating the destination folders', async () => {
    writeFileSync(join(dir, 'a'), 'A');
    expect(await moveFile(join(dir, 'a'), join(dir, 'x', 'y', 'a'), true)).toBe(true);
    expect(readFileSync(join(dir, 'x', 'y', 'a'), 'utf8')).toBe('A');
    expect(existsSync(join(dir, 'a'))).toBe(false);
    expect(hooks.copies).toEqual([]);
  });

  it('returns false when the source is already gone', async () => {
    expect(await moveFile(join(dir, 'missing'), join(dir, 'out', 'missing'), false)).toBe(false);
    expect(existsSync(join(dir, 'out', 'missing'))).toBe(false);
  });

  for (const durable of [true, false]) {
    it(`across devices (EXDEV) copies, then removes the original (durable: ${String(durable)})`, async () => {
      const content = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) % 256));
      const src = join(dir, 'src.dcm');
      const dst = join(dir, 'other-fs', 'sub', 'dst.dcm');
      writeFileSync(src, content);
      hooks.renameError = { code: 'EXDEV', times: 1 };
      expect(await moveFile(src, dst, durable)).toBe(true);
      expect(readFileSync(dst).equals(content)).toBe(true);
      expect(existsSync(src)).toBe(false);
      // Copied to a partial name first, renamed into place: a crash never leaves a short file at dst.
      expect(hooks.copies).toEqual([[src, `${dst}.xg-partial`]]);
      expect(hooks.renames).toEqual([
        [src, dst],
        [`${dst}.xg-partial`, dst],
      ]);
      expect(readdirSync(join(dir, 'other-fs', 'sub'))).toEqual(['dst.dcm']);
    });
  }

  it('a release across devices moves handled and rejected files by copying', async () => {
    const root = join(dir, 'import');
    mkdirSync(join(root, 'drop', 'a'), { recursive: true });
    writeFileSync(join(root, 'drop', 'a', '1.dcm'), 'one');
    writeFileSync(join(root, 'drop', 'bad.txt'), 'bad');
    // Every rename out of the import folder crosses devices; those on the far side do not.
    hooks.renameError = { code: 'EXDEV', times: 2, when: (from) => from.startsWith(root) };
    const r = await releaseDrop({
      dropId: 1,
      dropName: 'drop',
      dropAbs: join(root, 'drop'),
      kind: 'folder',
      handled: ['a/1.dcm'],
      rejected: [{ rel: 'bad.txt', size: 3, code: ErrorCode.FOLDER_NOT_DICOM, reason: 'x' }],
      disposition: `move:${join(dir, 'processed', 'drop')}`,
      rejectedTo: join(dir, 'rejected', 'drop'),
      nonDicom: 'reject',
      importRoot: root,
      at: AT,
    });
    expect(r).toEqual({ moved: 1, deleted: 0, rejectedMoved: 1 });
    expect(hooks.copies).toHaveLength(2);
    expect(readFileSync(join(dir, 'processed', 'drop', 'a', '1.dcm'), 'utf8')).toBe('one');
    expect(readFileSync(join(dir, 'rejected', 'drop', 'bad.txt'), 'utf8')).toBe('bad');
    expect(existsSync(join(root, 'drop'))).toBe(false);
  });

  it('other rename errors are thrown', async () => {
    writeFileSync(join(dir, 'a'), 'A');
    hooks.renameError = { code: 'EACCES', times: 1 };
    await expect(moveFile(join(dir, 'a'), join(dir, 'b'), false)).rejects.toMatchObject({ code: 'EACCES' });
    expect(existsSync(join(dir, 'a'))).toBe(true);
    expect(hooks.copies).toEqual([]);
  });
});
