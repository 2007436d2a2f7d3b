// Reading a stable drop against a real SQLite ledger and a recording intake.
import {
  createWriteStream,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { createLogger } from '../../../../src/log.ts';
import type { DropLedger } from '../../../../src/contracts/drops.ts';
import { createAssociationStore } from '../../../../src/store/sqlite/associations.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createDropLedger } from '../../../../src/store/sqlite/drops.ts';
import { folderSourceConfig, type FolderSourceConfig } from '../../../../src/sources/folder/config.ts';
import {
  createDropReader,
  type Attempts,
  type DropOutcome,
  type DropPaths,
  type DropProgress,
} from '../../../../src/sources/folder/drop-reader.ts';
import { nameMatcher } from '../../../../src/sources/folder/names.ts';
import { scanDrop, type DropScan } from '../../../../src/sources/folder/scan.ts';
import { encodeInstance, writeInstance } from '../../../helpers/dicom-factory.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';
import { addSeries, addInstance } from '../../../helpers/queue-rows.ts';
import { createFakeIntake, type FakeIntake } from './fake-intake.ts';

// Opening a path in `denied` fails with EACCES (we run as root: chmod cannot make a file unreadable).
const hooks = vi.hoisted(() => ({ denied: new Set<string>() }));
vi.mock('node:fs/promises', async (importOriginal) => {
  const real = await importOriginal<typeof import('node:fs/promises')>();
  return {
    ...real,
    open: (...args: Parameters<typeof real.open>) => {
      const path = String(args[0]);
      if (hooks.denied.has(path)) {
        return Promise.reject(
          Object.assign(new Error(`EACCES: permission denied, open '${path}'`), { code: 'EACCES', path }),
        );
      }
      return real.open(...args);
    },
  };
});

interface YazlZipFile {
  addBuffer(data: Buffer, name: string): void;
  end(): void;
  readonly outputStream: NodeJS.ReadableStream;
}
const yazl = createRequire(import.meta.url)('yazl') as { ZipFile: new () => YazlZipFile };

function writeZip(file: string, entries: Record<string, Buffer>): Promise<void> {
  const z = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) {
    z.addBuffer(data, name);
  }
  z.end();
  return new Promise((resolve, reject) => {
    z.outputStream.pipe(createWriteStream(file)).on('close', resolve).on('error', reject);
  });
}

/** Every file under `dir`, '/'-separated, sorted; [] when `dir` does not exist. */
function tree(dir: string): string[] {
  if (!existsSync(dir)) {
    return [];
  }
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => !e.isDirectory())
    .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
    .sort();
}

describe('createDropReader', () => {
  let base: string;
  let paths: DropPaths;
  let db: Db;
  let ledger: DropLedger;
  let intake: FakeIntake;
  let clock: FakeClock;
  let seriesId: number;
  let stopping: boolean;

  const reader = (cfg: Partial<FolderSourceConfig> = {}): ReturnType<typeof createDropReader> =>
    createDropReader({
      intake,
      ledger,
      clock,
      paths,
      log: createLogger('silent'),
      stopping: () => stopping,
      cfg: folderSourceConfig.parse({ readyMarker: '.ready', ...cfg }),
    });
  const scan = (name: string): Promise<DropScan> =>
    scanDrop(paths.root, name, { realRoot: paths.root, isInProgress: nameMatcher([]), marker: '.ready' });
  /** Scans and reads `name` once. */
  async function readOnce(
    r: ReturnType<typeof createDropReader>,
    name: string,
    attempts: Attempts = new Map(),
    onProgress?: (p: DropProgress) => void,
  ): Promise<DropOutcome> {
    const kind = statSync(join(paths.root, name)).isDirectory() ? 'folder' : 'file';
    return r.read(name, kind, await scan(name), attempts, onProgress);
  }
  const dropRow = (
    name: string,
  ): {
    id: number;
    state: string;
    files_total: number;
    files_spooled: number;
    files_rejected: number;
    files_ignored: number;
  } => db.prepare('SELECT * FROM folder_drops WHERE name = ? ORDER BY id DESC LIMIT 1').get(name) as never;
  const begun = (): string[] => intake.instances.map((i) => i.meta.origin ?? '').sort();
  const outcomes = (): (string | null)[] => intake.associations.map((a) => a.outcome);
  const associationRow = (uid: string | undefined): { closed_at: number | null; outcome: string | null } | undefined =>
    db.prepare('SELECT closed_at, outcome FROM associations WHERE uid = ?').get(uid) as never;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'xg-dropreader-'));
    paths = {
      root: join(base, 'import'),
      processedDir: join(base, 'processed'),
      rejectedDir: join(base, 'rejected'),
      workDir: join(base, 'work'),
    };
    mkdirSync(paths.root);
    db = openDb(join(base, 'gateway.db'));
    ledger = createDropLedger(db);
    clock = createFakeClock();
    seriesId = addSeries(db);
    // The real association store: the ledger finds a drop's open association by joining on it.
    intake = createFakeIntake(createAssociationStore(db));
    // Ledger rows reference real instance rows (foreign key).
    intake.result = () => ({
      ok: true,
      instanceId: addInstance(db, seriesId, { source: 'folder' }),
      outcome: 'stored',
    });
    hooks.denied.clear();
    stopping = false;
  });
  afterEach(() => {
    db.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('spools every file, records it, releases the drop to processed/ and closes its association "released"', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(join(drop, 's1'), { recursive: true });
    const infos = [
      await writeInstance(join(drop, 's1', 'a.dcm')),
      await writeInstance(join(drop, 's1', 'b.dcm')),
      await writeInstance(join(drop, 'c.dcm')),
    ];
    const progress: DropProgress[] = [];
    expect(await readOnce(reader(), 'drop', new Map(), (p) => progress.push({ ...p }))).toBe('released');

    expect(begun()).toEqual(['drop/c.dcm', 'drop/s1/a.dcm', 'drop/s1/b.dcm']);
    expect(intake.instances.map((i) => i.meta.sopInstanceUid).sort()).toEqual(
      infos.map((i) => i.sopInstanceUid).sort(),
    );
    const uid = intake.associations[0]?.uid;
    expect(intake.associations).toEqual([{ uid, source: 'folder', outcome: 'released' }]);
    expect(new Set(intake.instances.map((i) => i.meta.associationUid))).toEqual(new Set([uid]));
    expect(associationRow(uid)).toMatchObject({ outcome: 'released', closed_at: expect.any(Number) as number });

    const row = dropRow('drop');
    expect((await ledger.get(row.id))?.associationUid).toBe(uid);
    expect(await ledger.openAssociation(row.id)).toBeNull();
    expect(row).toMatchObject({
      state: 'released',
      files_total: 3,
      files_spooled: 3,
      files_rejected: 0,
      files_ignored: 0,
    });
    const files = await ledger.handled(row.id);
    expect([...files.keys()].sort()).toEqual(['c.dcm', 's1/a.dcm', 's1/b.dcm']);
    for (const f of files.values()) {
      expect(f).toMatchObject({ outcome: 'stored', instanceId: expect.any(Number) as number });
    }
    expect(files.get('s1/a.dcm')?.size).toBe(infos[0]?.bytes);

    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['c.dcm', join('s1', 'a.dcm'), join('s1', 'b.dcm')]);
    expect(readdirSync(paths.root)).toEqual([]);
    expect(existsSync(paths.rejectedDir)).toBe(false);
    expect(progress.at(-1)).toEqual({ dropId: row.id, total: 3, done: 3, spooled: 3, rejected: 0, ignored: 0 });
  });

  it('a loose file is read and moved to processed/<name>', async () => {
    const info = await writeInstance(join(paths.root, 'IM0001'));
    expect(await readOnce(reader(), 'IM0001')).toBe('released');
    expect(intake.instances.map((i) => [i.meta.origin, i.meta.sopInstanceUid])).toEqual([
      ['IM0001', info.sopInstanceUid],
    ]);
    expect(readdirSync(paths.processedDir)).toEqual(['IM0001']);
    expect(readdirSync(paths.root)).toEqual([]);
  });

  it('afterImport delete removes the handled files instead of moving them', async () => {
    mkdirSync(join(paths.root, 'drop'), { recursive: true });
    await writeInstance(join(paths.root, 'drop', 'a.dcm'));
    expect(await readOnce(reader({ afterImport: 'delete' }), 'drop')).toBe('released');
    expect(readdirSync(paths.root)).toEqual([]);
    expect(existsSync(paths.processedDir)).toBe(false);
    expect((await ledger.get(dropRow('drop').id))?.disposition).toBe('delete');
  });

  it('rejects non-DICOM and unfollowed links, ignores clutter and the marker, and releases each to its place', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    writeFileSync(join(drop, 'notes.txt'), 'not DICOM at all, just some notes about the scan\n');
    writeFileSync(join(drop, '.DS_Store'), 'clutter');
    writeFileSync(join(drop, '.ready'), '');
    symlinkSync(join(base, 'nowhere'), join(drop, 'dangling'));
    expect(await readOnce(reader(), 'drop')).toBe('released');

    const row = dropRow('drop');
    expect(row).toMatchObject({
      state: 'released',
      files_total: 5,
      files_spooled: 1,
      files_rejected: 2,
      files_ignored: 2,
    });
    const files = await ledger.handled(row.id);
    expect(Object.fromEntries([...files.values()].map((f) => [f.rel, [f.outcome, f.code]]))).toEqual({
      '.DS_Store': ['ignored', null],
      '.ready': ['ignored', null],
      'a.dcm': ['stored', null],
      dangling: ['rejected', ErrorCode.FOLDER_NOT_FOLLOWED],
      'notes.txt': ['rejected', ErrorCode.FOLDER_NOT_DICOM],
    });
    expect(begun()).toEqual(['drop/a.dcm']);
    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['.DS_Store', '.ready', 'a.dcm']);
    expect(tree(join(paths.rejectedDir, 'drop'))).toEqual(['dangling', 'notes.txt', 'rejected.json']);
    expect(readdirSync(paths.root)).toEqual([]);
  });

  it('a file it cannot open is tried readAttempts times, one read apart, then rejected as unreadable', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    for (const n of ['a', 'b', 'c', 'd']) {
      await writeInstance(join(drop, `${n}.dcm`));
    }
    hooks.denied.add(join(drop, 'b.dcm'));
    const r = reader({ readAttempts: 3, concurrency: 1 });
    const attempts: Attempts = new Map();

    expect(await readOnce(r, 'drop', attempts)).toBe('again');
    expect(attempts.get('b.dcm')).toBe(1);
    const id = dropRow('drop').id;
    expect(dropRow('drop').state).toBe('reading');
    // The drop's association stays open between reads so its series cannot complete half-read.
    const uid = intake.associations[0]?.uid;
    expect(outcomes()).toEqual([null]);
    expect(await ledger.openAssociation(id)).toBe(uid);
    expect(await readOnce(r, 'drop', attempts)).toBe('again');
    expect(attempts.get('b.dcm')).toBe(2);
    expect(await ledger.openAssociation(id)).toBe(uid);
    expect(tree(drop)).toEqual(['a.dcm', 'b.dcm', 'c.dcm', 'd.dcm']);
    expect(await readOnce(r, 'drop', attempts)).toBe('released');

    // Each readable file was handed to the intake exactly once over the three reads.
    expect(begun()).toEqual(['drop/a.dcm', 'drop/c.dcm', 'drop/d.dcm']);
    // One association for the whole drop, over the three reads.
    expect(outcomes()).toEqual(['released']);
    expect(new Set(intake.instances.map((i) => i.meta.associationUid))).toEqual(new Set([uid]));
    const row = dropRow('drop');
    expect(row).toMatchObject({ state: 'released', files_spooled: 3, files_rejected: 1 });
    expect((await ledger.handled(row.id)).get('b.dcm')).toMatchObject({
      outcome: 'rejected',
      code: ErrorCode.FOLDER_UNREADABLE,
      reason: 'unreadable: permission denied (EACCES)',
    });
    const report = JSON.parse(readFileSync(join(paths.rejectedDir, 'drop', 'rejected.json'), 'utf8')) as {
      files: { file: string; code: string; reason: string; action: string }[];
    };
    expect(report.files).toEqual([
      {
        file: 'b.dcm',
        size: statSync(join(paths.rejectedDir, 'drop', 'b.dcm')).size,
        code: ErrorCode.FOLDER_UNREADABLE,
        reason: 'unreadable: permission denied (EACCES)',
        action: 'moved here',
      },
    ]);
    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['a.dcm', 'c.dcm', 'd.dcm']);
  });

  it('with readAttempts 1 an unreadable file is rejected on the first read', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    hooks.denied.add(join(drop, 'a.dcm'));
    expect(await readOnce(reader({ readAttempts: 1 }), 'drop')).toBe('released');
    expect(tree(join(paths.rejectedDir, 'drop'))).toEqual(['a.dcm', 'rejected.json']);
  });

  it('a resumed drop does not read again the files its ledger already holds, unless they changed', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    for (const n of ['a', 'b', 'c', 'd']) {
      await writeInstance(join(drop, `${n}.dcm`));
    }
    const before = await scan('drop');
    const st = (rel: string): { size: number; mtimeMs: number } => {
      const f = before.files.find((x) => x.rel === rel);
      if (!f) {
        throw new Error(rel);
      }
      return { size: f.size, mtimeMs: f.mtimeMs };
    };
    // As a crash would leave it: a and b recorded with the scan's size and mtime, c recorded
    // while it had another size (it was re-copied since).
    const { drop: d, resumed } = await ledger.begin({
      root: paths.root,
      name: 'drop',
      kind: 'folder',
      at: clock.now(),
    });
    expect(resumed).toBe(false);
    await ledger.record(
      d.id,
      [
        { rel: 'a.dcm', ...st('a.dcm'), outcome: 'stored', instanceId: addInstance(db, seriesId) },
        { rel: 'b.dcm', ...st('b.dcm'), outcome: 'duplicate', instanceId: addInstance(db, seriesId) },
        {
          rel: 'c.dcm',
          size: st('c.dcm').size + 1,
          mtimeMs: st('c.dcm').mtimeMs,
          outcome: 'stored',
          instanceId: addInstance(db, seriesId),
        },
      ],
      clock.now(),
    );

    const progress: DropProgress[] = [];
    expect(await reader().read('drop', 'folder', before, new Map(), (p) => progress.push({ ...p }))).toBe('released');
    expect(begun()).toEqual(['drop/c.dcm', 'drop/d.dcm']);
    expect(dropRow('drop').id).toBe(d.id);
    const files = await ledger.handled(d.id);
    expect(files.get('c.dcm')).toMatchObject({ ...st('c.dcm'), outcome: 'stored' });
    expect(files.get('b.dcm')?.outcome).toBe('duplicate');
    expect(progress.at(-1)).toMatchObject({ total: 4, done: 4, spooled: 4 });
    // The files already handed off leave with the drop too.
    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['a.dcm', 'b.dcm', 'c.dcm', 'd.dcm']);
  });

  it('intake back-pressure leaves the drop unreleased ("again") and keeps what was spooled', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    for (const n of ['a', 'b', 'c']) {
      await writeInstance(join(drop, `${n}.dcm`));
    }
    const r = reader({ concurrency: 1 });
    // The second file meets a full spool.
    intake.result = (_meta, n) =>
      n === 2
        ? { ok: false, code: ErrorCode.SPOOL_FULL, retryable: true, message: 'spool full' }
        : { ok: true, instanceId: addInstance(db, seriesId), outcome: 'stored' };
    expect(await readOnce(r, 'drop')).toBe('again');
    expect(dropRow('drop')).toMatchObject({ state: 'reading', files_spooled: 1 });
    expect(tree(drop)).toEqual(['a.dcm', 'b.dcm', 'c.dcm']);
    expect(outcomes()).toEqual([null]);
    // Admission refused outright: nothing begun at all.
    intake.admit = { ok: false, code: ErrorCode.QUEUE_BACKLOG, message: 'backlog' };
    expect(await readOnce(r, 'drop')).toBe('again');
    expect(intake.instances).toHaveLength(2);
    expect(outcomes()).toEqual([null]);
    // Room again: the rest is read and the drop released; the retry never counted as an attempt.
    intake.admit = { ok: true };
    intake.result = () => ({ ok: true, instanceId: addInstance(db, seriesId), outcome: 'stored' });
    const attempts: Attempts = new Map();
    expect(await readOnce(r, 'drop', attempts)).toBe('released');
    expect(attempts.size).toBe(0);
    expect(begun()).toEqual(['drop/a.dcm', 'drop/b.dcm', 'drop/b.dcm', 'drop/c.dcm']);
    expect(dropRow('drop')).toMatchObject({ state: 'released', files_spooled: 3, files_rejected: 0 });
    expect(outcomes()).toEqual(['released']);
  });

  it('a file changed since the scan makes the drop wait ("wait"), and nothing is released', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    const s = await scan('drop');
    writeFileSync(join(drop, 'a.dcm'), encodeInstance({ rows: 32, columns: 32 }).bytes);
    expect(await reader().read('drop', 'folder', s, new Map())).toBe('wait');
    expect(intake.instances).toHaveLength(0);
    expect(outcomes()).toEqual([null]);
    expect(dropRow('drop').state).toBe('reading');
    expect((await ledger.handled(dropRow('drop').id)).size).toBe(0);
    expect(tree(drop)).toEqual(['a.dcm']);
  });

  it('a file that vanished since the scan makes the drop wait', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    await writeInstance(join(drop, 'b.dcm'));
    const s = await scan('drop');
    rmSync(join(drop, 'a.dcm'));
    expect(await reader({ concurrency: 1 }).read('drop', 'folder', s, new Map())).toBe('wait');
    expect(dropRow('drop').state).toBe('reading');
  });

  it('a stopping source starts no file and releases nothing', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    stopping = true;
    expect(await readOnce(reader(), 'drop')).toBe('again');
    expect(intake.instances).toHaveLength(0);
    expect(outcomes()).toEqual([null]);
    expect(dropRow('drop').state).toBe('reading');
  });

  it('a drop left "releasing" is released by read() without reading a file or opening an association', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    writeFileSync(join(drop, 'bad.txt'), 'not DICOM');
    const s = await scan('drop');
    const { drop: d } = await ledger.begin({ root: paths.root, name: 'drop', kind: 'folder', at: clock.now() });
    const [a, bad] = s.files.filter((f) => f.rel !== '');
    if (!a || !bad) {
      throw new Error('scan');
    }
    await ledger.record(
      d.id,
      [
        { rel: 'a.dcm', size: a.size, mtimeMs: a.mtimeMs, outcome: 'stored', instanceId: addInstance(db, seriesId) },
        {
          rel: 'bad.txt',
          size: bad.size,
          mtimeMs: bad.mtimeMs,
          outcome: 'rejected',
          code: ErrorCode.FOLDER_NOT_DICOM,
          reason: 'not DICOM',
        },
      ],
      clock.now(),
    );
    // The destinations fixed before the crash are used, not new ones.
    await ledger.markReleasing(d.id, {
      disposition: `move:${join(paths.processedDir, 'planned')}`,
      rejectedTo: join(paths.rejectedDir, 'planned'),
    });

    expect(await reader().read('drop', 'folder', s, new Map())).toBe('released');
    expect(intake.instances).toHaveLength(0);
    expect(intake.associations).toEqual([]);
    expect(intake.admissions).toBe(0);
    expect((await ledger.get(d.id))?.state).toBe('released');
    expect(tree(join(paths.processedDir, 'planned'))).toEqual(['a.dcm']);
    expect(tree(join(paths.rejectedDir, 'planned'))).toEqual(['bad.txt', 'rejected.json']);
    expect(readdirSync(paths.root)).toEqual([]);
  });

  it('a failed release is "again"; the next read finishes it to the same destinations', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    // processed/ cannot be created: a file is in the way.
    writeFileSync(paths.processedDir, 'in the way');
    const r = reader();
    expect(await readOnce(r, 'drop')).toBe('again');
    const d = await ledger.get(dropRow('drop').id);
    expect(d).toMatchObject({ state: 'releasing', disposition: `move:${join(paths.processedDir, 'drop')}` });
    expect((await ledger.unreleased(paths.root)).map((x) => [x.id, x.state])).toEqual([[d?.id, 'releasing']]);
    expect(outcomes()).toEqual(['released']);
    rmSync(paths.processedDir);
    expect(await r.finishRelease((await ledger.get(dropRow('drop').id)) ?? (d as never))).toBe(true);
    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['a.dcm']);
    expect(intake.instances).toHaveLength(1);
    expect(dropRow('drop').state).toBe('released');
  });

  it('a drop name already used in processed/ and rejected/ gets its id appended', async () => {
    mkdirSync(join(paths.processedDir, 'drop'), { recursive: true });
    mkdirSync(join(paths.rejectedDir, 'drop'), { recursive: true });
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    writeFileSync(join(drop, 'bad.txt'), 'x');
    expect(await readOnce(reader(), 'drop')).toBe('released');
    const id = String(dropRow('drop').id);
    expect(tree(join(paths.processedDir, `drop.${id}`))).toEqual(['a.dcm']);
    expect(tree(join(paths.rejectedDir, `drop.${id}`))).toEqual(['bad.txt', 'rejected.json']);
  });

  it('a drop read after release is a new drop with a new id', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    expect(await readOnce(reader(), 'drop')).toBe('released');
    const first = dropRow('drop').id;
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    expect(await readOnce(reader(), 'drop')).toBe('released');
    expect(dropRow('drop').id).not.toBe(first);
    expect(readdirSync(paths.processedDir).sort()).toEqual(['drop', `drop.${String(dropRow('drop').id)}`]);
  });

  it('abandon(): a drop that vanished half-read closes its association "dropped" and is marked vanished', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    await writeInstance(join(drop, 'b.dcm'));
    hooks.denied.add(join(drop, 'b.dcm'));
    const r = reader({ concurrency: 1 });
    expect(await readOnce(r, 'drop')).toBe('again');
    const d = await ledger.get(dropRow('drop').id);
    if (!d) {
      throw new Error('no drop');
    }
    const uid = intake.associations[0]?.uid;
    expect(associationRow(uid)).toMatchObject({ closed_at: null, outcome: null });
    await r.abandon(d);
    expect(outcomes()).toEqual(['dropped']);
    expect(associationRow(uid)?.outcome).toBe('dropped');
    expect(await ledger.get(d.id)).toMatchObject({ state: 'vanished', releasedAt: clock.now() });
    expect(await ledger.unreleased(paths.root)).toEqual([]);
    // The same name later is a new drop.
    hooks.denied.clear();
    expect(await readOnce(r, 'drop')).toBe('released');
    expect(dropRow('drop').id).not.toBe(d.id);
    expect(outcomes()).toEqual(['dropped', 'released']);
  });

  it('keepInPlace: the drop is read and released but nothing is moved; rejected files are listed "left in place"', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    await writeInstance(join(drop, 'a.dcm'));
    writeFileSync(join(drop, 'bad.txt'), 'not DICOM');
    const r = createDropReader({
      intake,
      ledger,
      clock,
      paths,
      log: createLogger('silent'),
      stopping: () => false,
      keepInPlace: true,
      cfg: folderSourceConfig.parse({}),
    });
    expect(await readOnce(r, 'drop')).toBe('released');
    expect(tree(drop)).toEqual(['a.dcm', 'bad.txt']);
    expect(existsSync(paths.processedDir)).toBe(false);
    expect(await ledger.get(dropRow('drop').id)).toMatchObject({ state: 'released', disposition: 'keep' });
    const to = (await ledger.get(dropRow('drop').id))?.rejectedTo ?? '';
    const report = JSON.parse(readFileSync(join(to, 'rejected.json'), 'utf8')) as {
      files: { file: string; action: string }[];
    };
    expect(report.files.map((f) => [f.file, f.action])).toEqual([['bad.txt', 'left in place']]);
    expect(tree(to)).toEqual(['rejected.json']);
  });

  it('a zip in a drop: its entries are spooled, the archive leaves with the drop', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    const x = encodeInstance();
    const y = encodeInstance();
    await writeZip(join(drop, 'scan.zip'), { 'IM1.dcm': x.bytes, 'sub/IM2.dcm': y.bytes });
    expect(await readOnce(reader(), 'drop')).toBe('released');
    expect(begun()).toEqual(['drop/scan.zip/IM1.dcm', 'drop/scan.zip/sub/IM2.dcm']);
    const files = await ledger.handled(dropRow('drop').id);
    expect([...files.keys()].sort()).toEqual(['scan.zip', 'scan.zip/IM1.dcm', 'scan.zip/sub/IM2.dcm']);
    expect(files.get('scan.zip')?.outcome).toBe('ignored');
    expect(tree(join(paths.processedDir, 'drop'))).toEqual(['scan.zip']);
    expect(tree(paths.workDir)).toEqual([]);
  });

  // Regression: archives read in parallel once shared an extraction folder (named by progress.done).
  it('two archives with the same entry names read in parallel are both spooled', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(drop);
    const entries = (): Record<string, Buffer> =>
      Object.fromEntries(
        Array.from({ length: 6 }, (_, i) => [`IM${String(i)}.dcm`, encodeInstance({ rows: 64, columns: 64 }).bytes]),
      );
    await writeZip(join(drop, 'a.zip'), entries());
    await writeZip(join(drop, 'b.zip'), entries());
    expect(await readOnce(reader({ concurrency: 2 }), 'drop')).toBe('released');
    const expected = ['a', 'b'].flatMap((z) => Array.from({ length: 6 }, (_, i) => `drop/${z}.zip/IM${String(i)}.dcm`));
    expect(begun()).toEqual(expected.sort());
    expect(dropRow('drop')).toMatchObject({ files_spooled: 12, files_rejected: 0 });
  });

  // Regression: clutter folders are never scanned, so release must take them along explicitly.
  it('a __MACOSX folder leaves with its drop', async () => {
    const drop = join(paths.root, 'drop');
    mkdirSync(join(drop, '__MACOSX'), { recursive: true });
    await writeInstance(join(drop, 'a.dcm'));
    writeFileSync(join(drop, '__MACOSX', '._a.dcm'), 'AppleDouble');
    expect(await readOnce(reader(), 'drop')).toBe('released');
    expect(tree(join(paths.processedDir, 'drop'))).toContain('a.dcm');
    expect(readdirSync(paths.root)).toEqual([]);
  });
});
