import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { openDb, type Db } from '../../../src/queue/db.ts';
import { layoutFor, spoolRelPath, type Layout } from '../../../src/spool/layout.ts';
import { reconcileSpool } from '../../../src/spool/reconcile.ts';
import { addInstance, addSeries } from '../../helpers/queue-rows.ts';

const STUDY = '1.2.826.0.1.3680043.8.498.1';
const SERIES = '1.2.826.0.1.3680043.8.498.1.2';

describe('spool reconciliation', () => {
  let dir: string;
  let layout: Layout;
  let db: Db;
  const log = createLogger('silent');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-reconcile-'));
    layout = layoutFor(dir);
    mkdirSync(layout.tmpDir, { recursive: true });
    db = openDb(layout.dbFile);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Writes a spool file for `sop` and returns its path relative to the spool. */
  function spoolFile(sop: string, sha = 'a'.repeat(64)): string {
    const rel = spoolRelPath(STUDY, SERIES, sop, sha);
    mkdirSync(dirname(join(layout.spoolDir, rel)), { recursive: true });
    writeFileSync(join(layout.spoolDir, rel), 'dicom');
    return rel;
  }

  it('removes interrupted temp files, including stray directories', async () => {
    writeFileSync(join(layout.tmpDir, 'a.part'), 'half');
    writeFileSync(join(layout.tmpDir, 'b.part'), 'half');
    mkdirSync(join(layout.tmpDir, 'stray'));
    writeFileSync(join(layout.tmpDir, 'stray', 'x'), '');
    expect(await reconcileSpool(layout, db, log)).toBe(3);
    expect(readdirSync(layout.tmpDir)).toEqual([]);
  });

  it('removes spool files whose row never committed and keeps those with rows', async () => {
    const seriesId = addSeries(db, { study_uid: STUDY, series_uid: SERIES });
    const kept = spoolFile('1.2.3.1');
    addInstance(db, seriesId, { sop_instance_uid: '1.2.3.1', path: kept });
    const orphan = spoolFile('1.2.3.2');
    const orphanOtherVersion = spoolFile('1.2.3.1', 'b'.repeat(64));
    expect(await reconcileSpool(layout, db, log)).toBe(2);
    expect(existsSync(join(layout.spoolDir, kept))).toBe(true);
    expect(existsSync(join(layout.spoolDir, orphan))).toBe(false);
    expect(existsSync(join(layout.spoolDir, orphanOtherVersion))).toBe(false);
  });

  it('removes nothing from a consistent spool', async () => {
    const seriesId = addSeries(db, { study_uid: STUDY, series_uid: SERIES });
    for (const sop of ['1.2.3.1', '1.2.3.2']) {addInstance(db, seriesId, { sop_instance_uid: sop, path: spoolFile(sop) });}
    expect(await reconcileSpool(layout, db, log)).toBe(0);
  });

  it('leaves directories that are not spool shards alone', async () => {
    mkdirSync(join(layout.spoolDir, 'notes'));
    writeFileSync(join(layout.spoolDir, 'notes', 'readme.txt'), 'keep me');
    expect(await reconcileSpool(layout, db, log)).toBe(0);
    expect(existsSync(join(layout.spoolDir, 'notes', 'readme.txt'))).toBe(true);
  });

  it('logs a warning with the count when it removed something', async () => {
    const lines: string[] = [];
    const sink = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
    writeFileSync(join(layout.tmpDir, 'a.part'), 'half');
    await reconcileSpool(layout, db, createLogger('warn', sink));
    expect(lines.map((l) => JSON.parse(l) as { level: number; removed: number; msg: string })).toEqual([
      expect.objectContaining({ level: 40, removed: 1, msg: 'Removed spool files that were never acknowledged.' }),
    ]);
  });
});
