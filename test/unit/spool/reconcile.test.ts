import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../src/log.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { layoutFor, type Layout } from '../../../src/spool/layout.ts';
import { reconcileSpool } from '../../../src/spool/reconcile.ts';
import { createSlotPool, SLOTS_DIR, type Slot } from '../../../src/spool/slots.ts';
import { buildPart10Header } from '../../../src/dicom/part10.ts';
import { addInstance, addSeries } from '../../helpers/queue-rows.ts';

describe('spool reconciliation', () => {
  let dir: string;
  let layout: Layout;
  let db: Db;
  const log = createLogger('silent');

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-reconcile-'));
    layout = layoutFor(dir);
    mkdirSync(layout.spoolDir, { recursive: true });
    db = openDb(layout.dbFile);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Real slots from the pool, as the daemon creates them. */
  async function takeSlots(n: number): Promise<Slot[]> {
    const pool = createSlotPool(layout.spoolDir, { batch: n, low: 0 });
    await pool.prime();
    const out: Slot[] = [];
    for (let i = 0; i < n; i++) {
      out.push(await pool.take());
    }
    return out;
  }

  const fill = (s: Slot): void => {
    writeFileSync(s.abs, 'dicom bytes');
  };
  const rel = (slots: readonly Slot[]): string[] => slots.map((s) => s.rel).sort();

  it('keeps written files that have a row, removes written files that have none, and frees empty slots', async () => {
    const [kept, orphan, free1, free2] = await takeSlots(4);
    if (!kept || !orphan || !free1 || !free2) {
      throw new Error('Four slots expected.');
    }
    fill(kept);
    fill(orphan);
    addInstance(db, addSeries(db), { path: kept.rel });
    const r = await reconcileSpool(layout, db, log);
    expect(r.removed).toBe(1);
    expect(rel(r.freeSlots)).toEqual(rel([free1, free2]));
    expect(existsSync(kept.abs)).toBe(true);
    expect(existsSync(orphan.abs)).toBe(false);
    expect(existsSync(free1.abs) && existsSync(free2.abs)).toBe(true);
  });

  it('does not hand out a slot that an instance row uses, even when it is empty', async () => {
    const [used] = await takeSlots(1);
    if (!used) {
      throw new Error('One slot expected.');
    }
    addInstance(db, addSeries(db), { path: used.rel, size: 0 });
    const r = await reconcileSpool(layout, db, log);
    expect(r).toEqual({ freeSlots: [], removed: 0 });
    expect(existsSync(used.abs)).toBe(true);
  });

  it('removes the temp directory of older layouts', async () => {
    mkdirSync(join(layout.spoolDir, 'tmp', 'stray'), { recursive: true });
    writeFileSync(join(layout.spoolDir, 'tmp', 'a.part'), 'half');
    await reconcileSpool(layout, db, log);
    expect(existsSync(join(layout.spoolDir, 'tmp'))).toBe(false);
  });

  it('copes with a spool that has no slots yet', async () => {
    expect(await reconcileSpool(layout, db, log)).toEqual({ freeSlots: [], removed: 0 });
  });

  it('leaves files outside the slot directories alone', async () => {
    mkdirSync(join(layout.spoolDir, 'notes'));
    writeFileSync(join(layout.spoolDir, 'notes', 'readme.txt'), 'keep me');
    await reconcileSpool(layout, db, log);
    expect(existsSync(join(layout.spoolDir, 'notes', 'readme.txt'))).toBe(true);
  });

  it('logs a warning with the count when it removed something', async () => {
    const [orphan] = await takeSlots(1);
    if (!orphan) {
      throw new Error('One slot expected.');
    }
    fill(orphan);
    const lines: string[] = [];
    const sink = { write: (s: string) => (lines.push(s), true) } as unknown as NodeJS.WritableStream;
    await reconcileSpool(layout, db, createLogger('warn', sink));
    expect(lines.map((l) => JSON.parse(l) as { level: number; removed: number; msg: string })).toEqual([
      expect.objectContaining({ level: 40, removed: 1, msg: 'Removed spool files that were never acknowledged.' }),
    ]);
  });

  it('keeps rows committed before their fsync whose file is whole, and drops those whose file is not (ADR 0013)', async () => {
    const [whole, short, altered, missing] = await takeSlots(4);
    if (!whole || !short || !altered || !missing) {
      throw new Error('Four slots expected.');
    }
    const header = buildPart10Header({
      sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
      sopInstanceUid: '1.2.3',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
    });
    const dataset = Buffer.alloc(200_000, 7);
    const sha = createHash('sha256').update(dataset).digest('hex');
    const size = header.length + dataset.length;
    for (const s of [whole, short, altered]) {
      writeFileSync(s.abs, Buffer.concat([header, dataset]));
    }
    truncateSync(short.abs, size - 1000); // a kill before the last writes reached the kernel
    writeFileSync(altered.abs, Buffer.concat([header, Buffer.alloc(dataset.length, 8)]));
    const series = addSeries(db);
    const other = addSeries(db);
    const ids = [whole, short, altered].map((s) =>
      addInstance(db, series, { path: s.rel, size, dataset_sha256: sha, durable: 0 }),
    );
    addInstance(db, other, { path: missing.rel, size, dataset_sha256: sha, durable: 0 });
    db.prepare('UPDATE series SET instance_count = (SELECT count(*) FROM instances WHERE series_id = series.id)').run();
    await reconcileSpool(layout, db, log);
    expect(db.prepare('SELECT id, durable FROM instances').all()).toEqual([{ id: ids[0], durable: 1 }]);
    expect(existsSync(whole.abs)).toBe(true);
    expect([short, altered].map((s) => existsSync(s.abs))).toEqual([false, false]);
    // The batch whose only row was dropped is gone; the other keeps its whole instance.
    expect(db.prepare('SELECT id, instance_count FROM series').all()).toEqual([{ id: series, instance_count: 1 }]);
  });

  it('puts slots under the slot directory of the spool', async () => {
    const [s] = await takeSlots(1);
    expect(s?.rel.startsWith(`${SLOTS_DIR}/`)).toBe(true);
    expect(s?.abs).toBe(join(layout.spoolDir, s?.rel ?? ''));
  });
});
