import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents, type DaemonEventMap } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { Db } from '../../../src/store/sqlite/db.ts';
import { createJobStore } from '../../../src/store/sqlite/jobs.ts';
import { sqliteUnitOfWork } from '../../../src/store/sqlite/turns.ts';
import { createAssembler, EARLY_WINDOW_MS, type Assembler } from '../../../src/series/assembler.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';
import { addInstance } from '../../helpers/queue-rows.ts';
import { createTmpDb, insertAssociation, insertSeries, seriesState, type TmpDb } from '../../helpers/series-rows.ts';

const QUIET_MS = 10_000;

describe('series assembler', () => {
  let t: TmpDb;
  let clock: FakeClock;
  let states: DaemonEventMap['series.state'][];
  let notified: number;

  let logged: string[];

  function build(db: Db): Assembler {
    const events = createEvents();
    events.on('series.state', (p) => {
      states.push(p);
    });
    const jobs = createJobStore(db, clock, { leaseMs: 30_000, events });
    return createAssembler({
      db,
      clock,
      events,
      jobs,
      log: createLogger('error', logStream()),
      quietPeriodMs: QUIET_MS,
      checkIntervalMs: 1_000,
      onCompleted: () => notified++,
    });
  }

  const jobsOf = (db: Db, id: number) =>
    db.prepare('SELECT sink, state, max_attempts AS maxAttempts FROM jobs WHERE series_id = ? ORDER BY sink').all(id);

  beforeEach(() => {
    t = createTmpDb();
    clock = createFakeClock();
    states = [];
    notified = 0;
    logged = [];
  });

  function logStream(): PassThrough {
    const out = new PassThrough();
    out.on('data', (b: Buffer) => logged.push(b.toString()));
    return out;
  }
  afterEach(() => {
    t.cleanup();
  });
  /** Lets the ticks the timers started (asynchronous) run to their end. */
  const ticked = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

  it('completes a batch only after the quiet period and leaves the fan-out to the router', async () => {
    const a = build(t.db);
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    clock.advance(QUIET_MS - 1);
    expect(await a.tick()).toBe(0);
    clock.advance(1);
    expect(await a.tick()).toBe(1);
    expect(seriesState(t.db, id)).toBe('complete');
    // Jobs come only once the router has chosen a project (pipeline/router.ts).
    expect(jobsOf(t.db, id)).toEqual([]);
    expect(states).toEqual([{ seriesId: id, from: 'receiving', to: 'complete', batch: 1 }]);
    expect(notified).toBe(1);
    const audit = t.db.prepare("SELECT series_id AS s FROM events WHERE kind = 'series.completed'").all();
    expect(audit).toEqual([{ s: id }]);
    expect(await a.tick()).toBe(0);
  });

  it('keeps a batch receiving while an association that sent to it is open', async () => {
    const a = build(t.db);
    const open = insertAssociation(t.db, { openedAt: clock.now() });
    const closed = insertAssociation(t.db, { openedAt: clock.now(), closedAt: clock.now() });
    const held = insertSeries(t.db, { lastInstanceAt: clock.now(), associations: [open, closed] });
    const free = insertSeries(t.db, { lastInstanceAt: clock.now(), associations: [closed] });
    clock.advance(QUIET_MS * 5);
    expect(await a.tick()).toBe(1);
    expect(seriesState(t.db, held)).toBe('receiving');
    expect(seriesState(t.db, free)).toBe('complete');
    t.db.prepare("UPDATE associations SET closed_at = ?, outcome = 'released' WHERE id = ?").run(clock.now(), open);
    expect(await a.tick()).toBe(1);
    expect(seriesState(t.db, held)).toBe('complete');
  });

  it('keeps a batch receiving while one of its rows waits for its file to be durable', async () => {
    const a = build(t.db);
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    const row = addInstance(t.db, id, { durable: 0 });
    clock.advance(QUIET_MS * 5);
    expect(await a.tick()).toBe(0);
    expect(await a.nextDueAt()).toBeNull();
    t.db.prepare('UPDATE instances SET durable = 1 WHERE id = ?').run(row);
    expect(await a.tick()).toBe(1);
    expect(seriesState(t.db, id)).toBe('complete');
  });

  describe('series whose every expected instance arrived (a pull)', () => {
    /** A receiving series of `study` (series `<study>.1`) that an association still open sent to. */
    const heldOpen = (study: string): { open: number; id: number } => {
      const open = insertAssociation(t.db, { openedAt: clock.now() });
      const id = insertSeries(t.db, {
        lastInstanceAt: clock.now(),
        studyUid: study,
        seriesUid: `${study}.1`,
        associations: [open],
      });
      return { open, id };
    };
    const earlyAudit = (db: Db): unknown[] =>
      db
        .prepare("SELECT series_id AS s, detail FROM events WHERE kind = 'series.completed' ORDER BY id")
        .all()
        .map((r) => {
          const row = r as { s: number; detail: string };
          return { s: row.s, early: (JSON.parse(row.detail) as { early?: boolean }).early ?? false };
        });

    it('completes the named series at once, not after the quiet period, and only those', async () => {
      const a = build(t.db);
      const named = insertSeries(t.db, { lastInstanceAt: clock.now(), studyUid: '1.9', seriesUid: '1.9.1' });
      const sibling = insertSeries(t.db, { lastInstanceAt: clock.now(), studyUid: '1.9', seriesUid: '1.9.2' });
      const elsewhere = insertSeries(t.db, { lastInstanceAt: clock.now(), studyUid: '1.8', seriesUid: '1.9.1' });
      expect(await a.completeWhenFree('1.9', ['1.9.1'])).toBe(1);
      expect(seriesState(t.db, named)).toBe('complete');
      expect(seriesState(t.db, sibling)).toBe('receiving');
      expect(seriesState(t.db, elsewhere)).toBe('receiving');
      expect(states).toEqual([{ seriesId: named, from: 'receiving', to: 'complete', batch: 1 }]);
      expect(notified).toBe(1);
      expect(earlyAudit(t.db)).toEqual([{ s: named, early: true }]);
    });

    it('waits for the sender to release and for every file to be durable, then completes at the next tick', async () => {
      const a = build(t.db);
      const { open, id } = heldOpen('1.7');
      const row = addInstance(t.db, id, { durable: 0 });
      expect(await a.completeWhenFree('1.7', ['1.7.1'])).toBe(0);
      clock.advance(1_000);
      expect(await a.tick()).toBe(0);
      t.db.prepare("UPDATE associations SET closed_at = ?, outcome = 'released' WHERE id = ?").run(clock.now(), open);
      expect(await a.tick()).toBe(0); // a file's fsync still running holds it
      t.db.prepare('UPDATE instances SET durable = 1 WHERE id = ?').run(row);
      clock.advance(1_000);
      expect(await a.tick()).toBe(1); // 2 s after its last instance: far inside the quiet period
      expect(seriesState(t.db, id)).toBe('complete');
      expect(earlyAudit(t.db)).toEqual([{ s: id, early: true }]);
    });

    it('completes only the batch then receiving: a later batch of the series waits for its quiet period', async () => {
      const a = build(t.db);
      const first = insertSeries(t.db, { lastInstanceAt: clock.now(), studyUid: '1.6', seriesUid: '1.6.1' });
      await a.completeWhenFree('1.6', ['1.6.1']);
      expect(seriesState(t.db, first)).toBe('complete');
      const second = insertSeries(t.db, { lastInstanceAt: clock.now(), studyUid: '1.6', seriesUid: '1.6.1', batch: 2 });
      clock.advance(1_000);
      expect(await a.tick()).toBe(0);
      expect(seriesState(t.db, second)).toBe('receiving');
      clock.advance(QUIET_MS);
      expect(await a.tick()).toBe(1);
    });

    it(`gives up after ${String(EARLY_WINDOW_MS / 1000)} s held open, and the quiet period decides`, async () => {
      const a = build(t.db);
      const { open, id } = heldOpen('1.5');
      await a.completeWhenFree('1.5', ['1.5.1']);
      clock.advance(EARLY_WINDOW_MS + 1);
      expect(await a.tick()).toBe(0);
      t.db.prepare("UPDATE associations SET closed_at = ?, outcome = 'released' WHERE id = ?").run(clock.now(), open);
      // Its last instance is long past the quiet period: the ordinary completion takes it.
      expect(await a.tick()).toBe(1);
      expect(earlyAudit(t.db)).toEqual([{ s: id, early: false }]);
    });
  });

  it('reports when the next receiving batch could complete', async () => {
    const a = build(t.db);
    expect(await a.nextDueAt()).toBeNull();
    const open = insertAssociation(t.db, { openedAt: clock.now() });
    insertSeries(t.db, { lastInstanceAt: clock.now() - 5_000, associations: [open] });
    expect(await a.nextDueAt()).toBeNull();
    insertSeries(t.db, { lastInstanceAt: clock.now() - 2_000 });
    insertSeries(t.db, { lastInstanceAt: clock.now() - 1_000 });
    expect(await a.nextDueAt()).toBe(clock.now() - 2_000 + QUIET_MS);
  });

  it('ticks on its interval once started and stops when asked', async () => {
    const a = build(t.db);
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    a.start();
    clock.advance(QUIET_MS + 1_000);
    await ticked();
    expect(seriesState(t.db, id)).toBe('complete');
    await a.stop();
    const later = insertSeries(t.db, { lastInstanceAt: clock.now() });
    clock.advance(QUIET_MS * 3);
    await ticked();
    expect(seriesState(t.db, later)).toBe('receiving');
    expect(clock.pending).toBe(0);
  });

  it('starts no tick while one still runs, and stop() waits for the one running', async () => {
    const a = build(t.db);
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    // Another unit of work holds the connection: the tick's query waits its turn.
    let release = (): void => undefined;
    const held = sqliteUnitOfWork(t.db).run(() => new Promise<void>((resolve) => (release = resolve)));
    clock.advance(QUIET_MS);
    const first = a.tick();
    const second = a.tick();
    let stopped = false;
    const stopping = a.stop().then(() => (stopped = true));
    await ticked();
    expect(stopped).toBe(false);
    expect(seriesState(t.db, id)).toBe('receiving');
    release();
    await held;
    expect(await first).toBe(1);
    expect(await second).toBe(0);
    await stopping;
    expect(stopped).toBe(true);
    expect(seriesState(t.db, id)).toBe('complete');
  });

  it('keeps ticking after a tick throws', async () => {
    const a = build(t.db);
    a.start();
    t.db.exec('ALTER TABLE series RENAME TO series_gone');
    clock.advance(1_000);
    await ticked();
    t.db.exec('ALTER TABLE series_gone RENAME TO series');
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    clock.advance(QUIET_MS);
    await ticked();
    expect(seriesState(t.db, id)).toBe('complete');
    expect(logged.join('')).toContain('Series assembly tick failed.');
    await a.stop();
  });

  it('completes pending batches after a restart with a new database handle', async () => {
    const id = insertSeries(t.db, { lastInstanceAt: clock.now() });
    const assoc = insertAssociation(t.db, { openedAt: clock.now() });
    const held = insertSeries(t.db, { lastInstanceAt: clock.now(), associations: [assoc] });
    t.db.close();

    clock.advance(QUIET_MS);
    const db = t.reopen();
    const a = build(db);
    expect(await a.recoverAfterRestart()).toEqual({ associations: 1, expired: 0, orphaned: 0 });
    expect(db.prepare('SELECT outcome, closed_at AS closedAt FROM associations WHERE id = ?').get(assoc)).toEqual({
      outcome: 'interrupted',
      closedAt: clock.now(),
    });
    expect(await a.tick()).toBe(2);
    expect(seriesState(db, id)).toBe('complete');
    expect(seriesState(db, held)).toBe('complete');
  });

  it('returns jobs running in the previous process to the queue on restart', async () => {
    const first = build(t.db);
    insertSeries(t.db, { lastInstanceAt: clock.now() });
    clock.advance(QUIET_MS);
    await first.tick();
    const jobs = createJobStore(t.db, clock, { leaseMs: 30_000 });
    // The router's fan-out, which the assembler leaves to it.
    const id = (t.db.prepare("SELECT id FROM series WHERE state = 'complete'").get() as { id: number }).id;
    await jobs.enqueueDeliveries(id, ['xnat', 'folder'], 4);
    await jobs.claim();
    clock.advance(60_000);
    await jobs.claim(); // lease still valid at restart: no worker holds it any more
    t.db.close();

    const db = t.reopen();
    expect(await build(db).recoverAfterRestart()).toEqual({ associations: 0, expired: 1, orphaned: 1 });
    expect(db.prepare("SELECT count(*) AS n FROM jobs WHERE state = 'queued' AND lease_token IS NULL").get()).toEqual({
      n: 2,
    });
  });
});
