// The watched import folder with real chokidar, real files and the real daemon pipeline.
import { execFileSync } from 'node:child_process';
import { createWriteStream, existsSync } from 'node:fs';
import { appendFile, cp, mkdir, readFile, readdir, rename, stat, symlink, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import yazl from 'yazl';
import { afterEach, describe, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { encodeInstance, newUid, writeInstance, writeSeries } from '../../helpers/dicom-factory.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const FAST = { stableMs: 400, rescanIntervalMs: 100, pollIntervalMs: 100 };

interface InstanceRow {
  sop_instance_uid: string;
  source: string;
  origin: string | null;
  series_id: number;
}

const instances = (t: TestDaemon): InstanceRow[] =>
  t.daemon.db
    .prepare('SELECT sop_instance_uid, source, origin, series_id FROM instances ORDER BY origin')
    .all() as InstanceRow[];
const drops = (
  t: TestDaemon,
): {
  id: number;
  name: string;
  state: string;
  files_spooled: number;
  files_rejected: number;
  files_ignored: number;
}[] => t.daemon.db.prepare('SELECT * FROM folder_drops ORDER BY id').all() as never;
const released =
  (t: TestDaemon, n = 1) =>
  (): boolean =>
    drops(t).filter((d) => d.state === 'released').length >= n;

async function listTree(dir: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string, prefix: string): Promise<void> => {
    let entries;
    try {
      entries = await readdir(d, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of entries) {
      const rel = prefix ? `${prefix}/${e.name}` : e.name;
      if (e.isDirectory()) {
        await walk(join(d, e.name), rel);
      } else {
        out.push(rel);
      }
    }
  };
  await walk(dir, '');
  return out.sort();
}

function zipOf(entries: Record<string, Buffer>, file: string): Promise<void> {
  const z = new yazl.ZipFile();
  for (const [name, data] of Object.entries(entries)) {
    z.addBuffer(data, name);
  }
  z.end();
  return new Promise((resolve, reject) => {
    z.outputStream.pipe(createWriteStream(file)).on('close', resolve).on('error', reject);
  });
}

describe('folder source (real chokidar, real files)', () => {
  let t: TestDaemon | null = null;
  afterEach(async () => {
    await t?.stop();
    t = null;
  });

  for (const mode of ['events', 'poll'] as const) {
    it(`${mode}: reads the DASHER layout once it is stable, then moves it to processed/`, async () => {
      t = await startTestDaemon({ folder: { ...FAST, mode } });
      const stage = join(t.dataDir, 'stage');
      // DASHER user guide layout: folder1/session1/scan1, folder1/session2/…, folder2/session3.
      const study1 = newUid();
      await writeSeries(join(stage, 'folder1', 'session1', 'scan1'), { count: 3, studyInstanceUid: study1 });
      await writeSeries(join(stage, 'folder1', 'session1', 'scan2'), {
        count: 2,
        studyInstanceUid: study1,
        modality: 'MR',
        sopClassUid: '1.2.840.10008.5.1.4.1.1.4',
      });
      await writeSeries(join(stage, 'folder1', 'session2', 'scan1'), { count: 2 });
      await writeSeries(join(stage, 'folder2', 'session3'), { count: 4 });
      await rename(join(stage, 'folder1'), join(t.dataDir, 'import', 'folder1'));
      await rename(join(stage, 'folder2'), join(t.dataDir, 'import', 'folder2'));

      await waitFor(released(t, 2), 'both drops released', 15_000);
      const rows = instances(t);
      expect(rows).toHaveLength(11);
      expect(rows.every((r) => r.source === 'folder')).toBe(true);
      expect(rows.map((r) => r.origin)).toContain('folder1/session1/scan2/0002.dcm');
      expect(new Set(rows.map((r) => r.series_id)).size).toBe(4);
      expect(await readdir(join(t.dataDir, 'import'))).toEqual([]);
      expect(await listTree(join(t.dataDir, 'processed'))).toContain('folder2/session3/0004.dcm');
      expect(
        drops(t)
          .map((d) => [d.name, d.state, d.files_spooled, d.files_rejected])
          .sort(),
      ).toEqual([
        ['folder1', 'released', 7, 0],
        ['folder2', 'released', 4, 0],
      ]);
    });
  }

  for (const mode of ['events', 'poll'] as const) {
    it(`${mode}: does not read a file still being written in chunks, nor a drop holding a .part file`, async () => {
      t = await startTestDaemon({ folder: { ...FAST, stableMs: 800, mode } });
      const drop = join(t.dataDir, 'import', 'slow');
      await mkdir(drop);
      const { bytes } = encodeInstance({ rows: 64, columns: 64 });
      const out = join(drop, 'slow.dcm');
      const parts = 6;
      const step = Math.ceil(bytes.length / parts);
      for (let i = 0; i < parts; i++) {
        await appendFile(out, bytes.subarray(i * step, (i + 1) * step));
        await sleep(500); // longer than a rescan, shorter than stableMs
        expect(instances(t), `read after chunk ${String(i + 1)} of ${String(parts)}`).toHaveLength(0);
      }
      // A second file arrives as .part and is renamed at the end: the drop waits meanwhile.
      const second = encodeInstance({ rows: 32, columns: 32 }).bytes;
      await writeFile(join(drop, 'b.dcm.part'), second);
      await sleep(1500);
      expect(instances(t)).toHaveLength(0);
      const waiting = (
        (await (await fetch(`http://127.0.0.1:${String(t.httpPort)}/status`)).json()) as {
          importFolder: { waiting: { waitingFor: string }[] };
        }
      ).importFolder.waiting;
      expect(waiting[0]?.waitingFor).toMatch(/in-progress/);
      await rename(join(drop, 'b.dcm.part'), join(drop, 'b.dcm'));
      await waitFor(released(t), 'drop released', 10_000);
      expect(instances(t)).toHaveLength(2);
    });
  }

  it('mixed drop: DICOM in, text/xml/jpg/truncated/zip leftovers to rejected/ with reasons', async () => {
    t = await startTestDaemon({ folder: FAST });
    const stage = join(t.dataDir, 'stage', 'mixed');
    await writeSeries(join(stage, 'ct'), { count: 3 });
    await writeFile(join(stage, 'notes.txt'), 'scan notes\n');
    await writeFile(join(stage, 'export.xml'), '<?xml version="1.0"?><study/>');
    await writeFile(join(stage, 'photo.jpg'), Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46, 0x49, 0x46, 0]));
    await writeFile(join(stage, '.DS_Store'), 'clutter');
    const whole = encodeInstance({ rows: 64, columns: 64 }).bytes;
    await writeFile(join(stage, 'cut.dcm'), whole.subarray(0, whole.length - 100));
    const inZip = encodeInstance({ rows: 16, columns: 16 });
    await zipOf({ 'inner/a.dcm': inZip.bytes, 'inner/readme.txt': Buffer.from('hello') }, join(stage, 'archive.zip'));
    await zipOf({ 'b.dcm': encodeInstance().bytes }, join(stage, 'clean.zip'));
    // A bare dataset: no preamble, no file meta (as some PACS exports write them).
    const bare = encodeInstance().bytes;
    await writeFile(join(stage, 'BARE0001'), bare.subarray(parsePart10Header(bare)?.datasetOffset ?? 0));
    await rename(stage, join(t.dataDir, 'import', 'mixed'));

    await waitFor(released(t), 'drop released', 15_000);
    expect(instances(t)).toHaveLength(6);
    expect(instances(t).map((r) => r.origin)).toContain('mixed/BARE0001');
    const report = JSON.parse(await readFile(join(t.dataDir, 'rejected', 'mixed', 'rejected.json'), 'utf8')) as {
      files: { file: string; code: string; reason: string; action: string }[];
    };
    const byFile = new Map(report.files.map((f) => [f.file, f]));
    expect([...byFile.keys()].sort()).toEqual([
      'archive.zip',
      'archive.zip/inner/readme.txt',
      'cut.dcm',
      'export.xml',
      'notes.txt',
      'photo.jpg',
    ]);
    expect(byFile.get('cut.dcm')?.code).toBe('ERR_FOLDER_TRUNCATED');
    expect(byFile.get('notes.txt')?.code).toBe('ERR_FOLDER_NOT_DICOM');
    expect(byFile.get('archive.zip/inner/readme.txt')?.action).toBe('inside an archive');
    expect(await listTree(join(t.dataDir, 'rejected', 'mixed'))).toEqual([
      'archive.zip',
      'cut.dcm',
      'export.xml',
      'notes.txt',
      'photo.jpg',
      'rejected.json',
    ]);
    expect(await listTree(join(t.dataDir, 'processed', 'mixed'))).toEqual([
      '.DS_Store',
      'BARE0001',
      'clean.zip',
      'ct/0001.dcm',
      'ct/0002.dcm',
      'ct/0003.dcm',
    ]);
    expect(await readdir(join(t.dataDir, 'import'))).toEqual([]);
  });

  it('two patients in one subfolder end up as their own series; a re-drop adds nothing', async () => {
    t = await startTestDaemon({ folder: FAST });
    const stage = join(t.dataDir, 'stage', 'mix');
    const a = { studyInstanceUid: newUid(), seriesInstanceUid: newUid(), patientId: 'PA' };
    const b = { studyInstanceUid: newUid(), seriesInstanceUid: newUid(), patientId: 'PB' };
    await mkdir(stage, { recursive: true });
    for (let i = 1; i <= 4; i++) {
      await writeInstance(join(stage, `img${String(i)}.dcm`), { ...(i % 2 ? a : b), instanceNumber: i });
    }
    await cp(stage, join(t.dataDir, 'stage', 'copy'), { recursive: true });
    await rename(stage, join(t.dataDir, 'import', 'mix'));
    await waitFor(released(t), 'first drop released', 10_000);
    const series = t.daemon.db.prepare('SELECT series_uid, instance_count FROM series ORDER BY series_uid').all();
    expect(series).toEqual(
      [a.seriesInstanceUid, b.seriesInstanceUid].sort().map((s) => ({ series_uid: s, instance_count: 2 })),
    );
    await rename(join(t.dataDir, 'stage', 'copy'), join(t.dataDir, 'import', 'mix'));
    await waitFor(released(t, 2), 'second drop released', 10_000);
    expect(instances(t)).toHaveLength(4);
    expect(await listTree(join(t.dataDir, 'processed'))).toEqual([
      'mix.2/img1.dcm',
      'mix.2/img2.dcm',
      'mix.2/img3.dcm',
      'mix.2/img4.dcm',
      'mix/img1.dcm',
      'mix/img2.dcm',
      'mix/img3.dcm',
      'mix/img4.dcm',
    ]);
  });

  it('loose files, odd names, a ready marker, and symlinks out of the import folder', async () => {
    t = await startTestDaemon({ folder: { ...FAST, stableMs: 60_000, readyMarker: '.ready' } });
    const stage = join(t.dataDir, 'stage', 'Ünïcode drop: CON?');
    await mkdir(join(stage, 'sub dir'), { recursive: true });
    await writeInstance(join(stage, 'sub dir', 'a file*with|odd"chars<>.dcm'));
    await writeFile(join(t.dataDir, 'secret.txt'), 'outside');
    await symlink(join(t.dataDir, 'secret.txt'), join(stage, 'escape'));
    await writeFile(join(stage, '.ready'), '');
    await rename(stage, join(t.dataDir, 'import', 'Ünïcode drop: CON?'));
    // The marker skips the 60 s wait.
    await waitFor(released(t), 'marked drop released', 10_000);
    expect(instances(t).map((r) => r.origin)).toEqual(['Ünïcode drop: CON?/sub dir/a file*with|odd"chars<>.dcm']);
    const report = JSON.parse(
      await readFile(join(t.dataDir, 'rejected', 'Ünïcode drop: CON?', 'rejected.json'), 'utf8'),
    ) as { files: { file: string; code: string }[] };
    expect(report.files).toEqual([expect.objectContaining({ file: 'escape', code: 'ERR_FOLDER_NOT_FOLLOWED' })]);
    expect(await readFile(join(t.dataDir, 'secret.txt'), 'utf8')).toBe('outside');
    // Drop and file names may identify a patient: only debug lines may carry them.
    const above = t
      .logs()
      .filter((l) => (l.level as number) > 20)
      .map((l) => JSON.stringify(l))
      .join('\n');
    expect(above).not.toMatch(/Ünïcode|odd"chars|sub dir/);
    expect(t.logs().some((l) => JSON.stringify(l).includes('Ünïcode'))).toBe(true);
  });

  it('a loose file in the import root is its own drop', async () => {
    t = await startTestDaemon({ folder: FAST });
    const f = join(t.dataDir, 'loose.dcm');
    await writeInstance(f);
    await rename(f, join(t.dataDir, 'import', 'IM0001'));
    await waitFor(released(t), 'loose file released', 10_000);
    expect(instances(t).map((r) => r.origin)).toEqual(['IM0001']);
    expect(await readdir(join(t.dataDir, 'processed'))).toEqual(['IM0001']);
    expect((await stat(join(t.dataDir, 'processed', 'IM0001'))).size).toBeGreaterThan(0);
  });

  it('afterImport: delete removes exactly the files it handed off', async () => {
    t = await startTestDaemon({ folder: { ...FAST, afterImport: 'delete', nonDicom: 'delete' } });
    const stage = join(t.dataDir, 'stage', 'd');
    await writeSeries(stage, { count: 2 });
    await writeFile(join(stage, 'junk.txt'), 'x');
    const whole = encodeInstance().bytes;
    await writeFile(join(stage, 'cut.dcm'), whole.subarray(0, 200));
    await rename(stage, join(t.dataDir, 'import', 'd'));
    await waitFor(released(t), 'drop released', 10_000);
    expect(await readdir(join(t.dataDir, 'import'))).toEqual([]);
    // Non-DICOM deleted as DASHER does; the truncated DICOM is still kept in rejected/.
    expect(await listTree(join(t.dataDir, 'rejected', 'd'))).toEqual(['cut.dcm', 'rejected.json']);
    const report = JSON.parse(await readFile(join(t.dataDir, 'rejected', 'd', 'rejected.json'), 'utf8')) as {
      files: { file: string; action: string }[];
    };
    expect(report.files.find((f) => f.file === 'junk.txt')?.action).toMatch(/deleted/);
  });

  it('a file that shrinks after the drop looked stable makes the drop wait, then it is read whole', async () => {
    t = await startTestDaemon({ folder: { ...FAST, stableMs: 300 } });
    const stage = join(t.dataDir, 'stage', 'v');
    await writeSeries(stage, { count: 40, rows: 128, columns: 128 });
    const victim = join(stage, '0040.dcm');
    const original = await readFile(victim);
    await rename(stage, join(t.dataDir, 'import', 'v'));
    const target = join(t.dataDir, 'import', 'v', '0040.dcm');
    // Someone cancels and restarts the copy of the last file while the drop is being read.
    const daemon = t;
    await waitFor(() => drops(daemon).length > 0, 'drop read started', 10_000, 5);
    await truncate(target, 10).catch(() => undefined);
    await sleep(50);
    await writeFile(target, original).catch(() => undefined);
    await waitFor(released(t), 'drop released', 15_000);
    expect(instances(t)).toHaveLength(40);
    expect(drops(t)[0]).toMatchObject({ files_spooled: 40, files_rejected: 0 });
  });

  it('a CD dump: DICOMDIR is not an instance, the files it lists are (names without extensions)', async () => {
    t = await startTestDaemon({ folder: FAST });
    const cd = '/usr/lib/python3/dist-packages/pydicom/data/test_files/dicomdirtests';
    const stage = join(t.dataDir, 'stage', 'CD');
    await mkdir(stage, { recursive: true });
    for (const part of ['DICOMDIR', '77654033', '98892001', '98892003']) {
      await cp(join(cd, part), join(stage, part), { recursive: true });
    }
    // pydicom, an independent reader, says what the dump holds.
    const expected = JSON.parse(
      execFileSync(
        '/usr/bin/python3',
        [
          '-c',
          `
import json, os, pydicom
uids = []
for top in ['77654033', '98892001', '98892003']:
    for r, _, fs in os.walk(os.path.join(${JSON.stringify(stage)}, top)):
        uids += [pydicom.dcmread(os.path.join(r, f)).SOPInstanceUID for f in fs]
print(json.dumps(sorted(uids)))`,
        ],
        { encoding: 'utf8' },
      ),
    ) as string[];
    expect(expected.length).toBe(31);
    await rename(stage, join(t.dataDir, 'import', 'CD'));
    await waitFor(released(t), 'CD drop released', 15_000);
    expect(
      instances(t)
        .map((r) => r.sop_instance_uid)
        .sort(),
    ).toEqual(expected);
    expect(drops(t)[0]).toMatchObject({ files_spooled: 31, files_rejected: 0, files_ignored: 1 });
    expect(t.daemon.db.prepare(`SELECT reason FROM folder_files WHERE rel_path = 'DICOMDIR'`).pluck().get()).toMatch(
      /listing 31 files \(/,
    );
    expect(existsSync(join(t.dataDir, 'rejected', 'CD'))).toBe(false);
  });

  it('a 5,000-file drop is read whole, with its progress visible in /status while it is read', async () => {
    t = await startTestDaemon({ folder: { ...FAST, stableMs: 200 } });
    const stage = join(t.dataDir, 'stage', 'big');
    const study = newUid();
    for (let s = 0; s < 5; s++) {
      const dir = join(stage, `series${String(s)}`);
      await mkdir(dir, { recursive: true });
      const seriesInstanceUid = newUid();
      await Promise.all(
        Array.from({ length: 1000 }, (_, i) =>
          writeFile(
            join(dir, `IM${String(i).padStart(4, '0')}`),
            encodeInstance({ studyInstanceUid: study, seriesInstanceUid, instanceNumber: i + 1, rows: 8, columns: 8 })
              .bytes,
          ),
        ),
      );
    }
    await rename(stage, join(t.dataDir, 'import', 'big'));
    const seen: { done: number; total: number }[] = [];
    const url = `http://127.0.0.1:${String(t.httpPort)}/status`;
    const daemon = t;
    await waitFor(
      async () => {
        const body = (await (await fetch(url)).json()) as {
          importFolder: { reading: { done: number; total: number }[] };
        };
        const r = body.importFolder.reading[0];
        if (r) {
          seen.push(r);
        }
        return released(daemon)();
      },
      '5,000-file drop released',
      120_000,
      200,
    );
    expect(instances(t)).toHaveLength(5000);
    expect(drops(t)[0]).toMatchObject({ files_spooled: 5000, files_rejected: 0 });
    expect(
      seen.some((p) => p.total === 5000 && p.done > 0 && p.done < 5000),
      'a partial progress figure was served',
    ).toBe(true);
    expect(t.daemon.db.prepare('SELECT count(*) FROM series').pluck().get()).toBe(5);
    expect(await readdir(join(t.dataDir, 'import'))).toEqual([]);
  }, 180_000);
});
