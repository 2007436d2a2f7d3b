// A drop holding files (and folders) whose names are not valid UTF-8 (a Latin-1 "é" from an old
// Windows tool): Node decodes them to U+FFFD, which opens nothing, so the drop looked empty for
// ever. They are read through their real bytes, recorded under an escaped name, and released.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, sep } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/log.ts';
import type { DropLedger } from '../../../../src/contracts/drops.ts';
import { createAssociationStore } from '../../../../src/store/sqlite/associations.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createDropLedger } from '../../../../src/store/sqlite/drops.ts';
import { folderSourceConfig } from '../../../../src/sources/folder/config.ts';
import { createDropReader, type DropPaths } from '../../../../src/sources/folder/drop-reader.ts';
import { escapeName, nameMatcher, unescapeName } from '../../../../src/sources/folder/names.ts';
import { scanDrop } from '../../../../src/sources/folder/scan.ts';
import { createSettler } from '../../../../src/sources/folder/settle.ts';
import { encodeInstance } from '../../../helpers/dicom-factory.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';
import { addInstance, addSeries } from '../../../helpers/queue-rows.ts';
import { createFakeIntake, type FakeIntake } from './fake-intake.ts';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
const rawPath = (...parts: (string | Buffer)[]): Buffer =>
  Buffer.concat(parts.flatMap((p, i) => (i ? [Buffer.from(sep), Buffer.from(p)] : [Buffer.from(p)])));

describe('file names that are not valid UTF-8', () => {
  let base: string;
  let paths: DropPaths;
  let db: Db;
  let ledger: DropLedger;
  let intake: FakeIntake;

  beforeEach(() => {
    base = mkdtempSync(join(tmpdir(), 'xg-latin1-'));
    paths = {
      root: join(base, 'import'),
      processedDir: join(base, 'processed'),
      rejectedDir: join(base, 'rejected'),
      workDir: join(base, 'work'),
    };
    mkdirSync(paths.root);
    db = openDb(join(base, 'gateway.db'));
    ledger = createDropLedger(db);
    intake = createFakeIntake(createAssociationStore(db));
    const seriesId = addSeries(db);
    intake.result = () => ({
      ok: true,
      instanceId: addInstance(db, seriesId, { source: 'folder' }),
      outcome: 'stored',
    });
  });
  afterEach(() => {
    db.close();
    rmSync(base, { recursive: true, force: true });
  });

  it('escapes invalid bytes (and %) reversibly, leaving valid UTF-8 alone', () => {
    expect(escapeName(latin1('Ré%sumé.dcm'))).toBe('R%E9%25sum%E9.dcm');
    expect(unescapeName('R%E9%25sum%E9.dcm')).toEqual(latin1('Ré%sumé.dcm'));
    expect(escapeName(Buffer.from('Résumé ✓.dcm', 'utf8'))).toBe('Résumé ✓.dcm');
    expect(escapeName(Buffer.from([0xed, 0xa0, 0x80]))).toBe('%ED%A0%80'); // an encoded surrogate is not UTF-8
  });

  it('reads them (the drop is not "empty"), records them escaped and releases them to processed/', async () => {
    const drop = join(paths.root, 'cd');
    mkdirSync(drop);
    const a = encodeInstance({ instanceNumber: 1 });
    const b = encodeInstance({ instanceNumber: 2 });
    const c = encodeInstance({ instanceNumber: 3 });
    writeFileSync(rawPath(drop, latin1('IMé1.dcm')), a.bytes);
    mkdirSync(rawPath(drop, latin1('séries')));
    writeFileSync(rawPath(drop, latin1('séries'), 'IM2.dcm'), b.bytes);
    writeFileSync(join(drop, 'ok.dcm'), c.bytes);

    const scan = await scanDrop(paths.root, 'cd', {
      realRoot: paths.root,
      isInProgress: nameMatcher([]),
      marker: null,
    });
    expect(scan.files.map((f) => f.rel)).toEqual(['IM%E91.dcm', 'ok.dcm', 's%E9ries/IM2.dcm']);
    expect(scan.files.map((f) => f.raw !== undefined)).toEqual([true, false, true]);
    expect(createSettler(0).observe('cd', 'folder', scan, 0).waiting.waitingFor).not.toBe('the drop is empty');

    const reader = createDropReader({
      intake,
      ledger,
      clock: createFakeClock(),
      paths,
      log: createLogger('silent'),
      stopping: () => false,
      cfg: folderSourceConfig.parse({}),
    });
    expect(await reader.read('cd', 'folder', scan, new Map())).toBe('released');
    expect(intake.instances.map((i) => i.meta.sopInstanceUid).sort()).toEqual(
      [a.sopInstanceUid, b.sopInstanceUid, c.sopInstanceUid].sort(),
    );
    expect(intake.instances.every((i) => i.bytes().length > 0)).toBe(true);
    expect(intake.instances.map((i) => i.meta.origin).sort()).toEqual([
      'cd/IM%E91.dcm',
      'cd/ok.dcm',
      'cd/s%E9ries/IM2.dcm',
    ]);
    // Moved out whole: nothing left to be found again as a new drop.
    expect(existsSync(drop)).toBe(false);
    expect(readdirSync(paths.root)).toEqual([]);
    expect(readdirSync(join(paths.processedDir, 'cd'), { recursive: true }).map(String).sort()).toEqual([
      'IM%E91.dcm',
      'ok.dcm',
      's%E9ries',
      join('s%E9ries', 'IM2.dcm'),
    ]);
  });
});
