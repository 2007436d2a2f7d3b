import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../../../src/log.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createDeliveryTracker, type DeliveryTracker } from '../../../../src/sources/pull/delivery.ts';
import { createSqlitePullLedger } from '../../../../src/store/sqlite/pulls.ts';
import type { PullLedger } from '../../../../src/contracts/pull-ledger.ts';
import { readList } from '../../../../src/sources/pull/list.ts';
import type { Deliveries } from '../../../../src/sources/pull/ports.ts';
import { parseRows } from '../../../../src/sources/pull/rows.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';

const STUDY = '1.2.3';
const SERIES = ['1.2.3.1', '1.2.3.2'];
const MINUTE = 60_000;

describe('following pulled studies into XNAT', () => {
  let dir: string;
  let db: Db;
  let ledger: PullLedger;
  let clock: FakeClock;
  let tracker: DeliveryTracker | null = null;
  /** What the delivery jobs say per series, and what XNAT answers when asked again. */
  let jobs: Map<
    string,
    {
      delivered: number;
      verified: number | null;
      uri: string | null;
      session?: string;
      failed?: { code: string; reason: string };
    }
  >;
  let xnat: Map<string, number | null>;
  let rechecks: string[];
  const warnings: string[] = [];

  const deliveries: Deliveries = {
    ofSeries: (_study, series) =>
      Promise.resolve({ delivered: 0, verified: null, uri: null, session: null, ...jobs.get(series) }),
    recheck: (s) => {
      rechecks.push(s.seriesInstanceUid);
      return Promise.resolve({
        found: xnat.get(s.seriesInstanceUid) ?? null,
        session: 'S_01',
        uri: '/data/archive/projects/P/subjects/S/experiments/S_01',
      });
    },
  };

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-pull-delivery-'));
    db = openDb(join(dir, 'gateway.db'));
    ledger = createSqlitePullLedger(db);
    clock = createFakeClock(Date.parse('2024-03-04T12:00:00Z'));
    jobs = new Map();
    xnat = new Map();
    rechecks = [];
    warnings.length = 0;
  });
  afterEach(async () => {
    await tracker?.stop();
    tracker = null;
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** A pull of one row whose study (two series of 3 and 2) has arrived whole. */
  async function completeRow(): Promise<{ pullId: number; rowId: number }> {
    const rows = parseRows(await readList(Buffer.from('AccessionNumber\nA1\n'), { maxBytes: 10_000, maxRows: 10 }), {
      project: null,
    }).rows;
    const pull = await ledger.createPull({
      uid: 'u1',
      pacs: 'p',
      project: null,
      fileName: null,
      notes: [],
      rows,
      at: clock.now(),
    });
    const [row] = await ledger.rows(pull.id);
    const rowId = row?.id ?? 0;
    await ledger.resolved(rowId, {
      studyInstanceUid: STUDY,
      series: [
        { seriesInstanceUid: SERIES[0] ?? '', modality: 'CT', seriesNumber: '1', expected: 3 },
        { seriesInstanceUid: SERIES[1] ?? '', modality: 'CT', seriesNumber: '2', expected: 2 },
      ],
      at: clock.now(),
    });
    await ledger.startRetrieve(rowId, clock.now());
    await ledger.retrieved(rowId, {
      outcome: { state: 'complete' },
      counts: null,
      received: new Map([
        [SERIES[0] ?? '', 3],
        [SERIES[1] ?? '', 2],
      ]),
      at: clock.now(),
    });
    return { pullId: pull.id, rowId };
  }

  function start(): DeliveryTracker {
    const log = createLogger('warn', {
      write: (l: string) => {
        warnings.push((JSON.parse(l) as { msg: string }).msg);
        return true;
      },
    } as unknown as NodeJS.WritableStream);
    tracker = createDeliveryTracker({
      ledger,
      deliveries,
      clock,
      log,
      verifyIntervalMs: MINUTE,
      reverifyIntervalMs: 24 * 60 * MINUTE,
      retentionMs: 7 * 24 * 60 * MINUTE,
    });
    return tracker;
  }

  /** Lets a timer-started sweep run to its end. */
  async function settle(): Promise<void> {
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setImmediate(r));
    }
  }

  it("takes the sinks' verified counts: the row is verified and its pull ends", async () => {
    const { pullId, rowId } = await completeRow();
    const t = start();
    await t.start();
    expect((await ledger.row(rowId))?.state).toBe('complete');
    jobs.set(SERIES[0] ?? '', {
      delivered: 3,
      verified: 3,
      uri: '/data/archive/projects/P/subjects/S/experiments/E',
      session: 'E',
    });
    await t.study(STUDY);
    expect((await ledger.row(rowId))?.state).toBe('complete');
    jobs.set(SERIES[1] ?? '', { delivered: 2, verified: 2, uri: null });
    await t.study(STUDY);
    const row = await ledger.row(rowId);
    expect(row).toMatchObject({
      state: 'verified',
      xnatUrl: '/data/archive/projects/P/subjects/S/experiments/E',
      xnatSession: 'E',
    });
    expect((await ledger.series(rowId)).map((s) => [s.delivered, s.verified])).toEqual([
      [3, 3],
      [2, 2],
    ]);
    expect((await ledger.getPull(pullId))?.state).toBe('ended');
    expect(rechecks).toEqual([]);
  });

  it('asks XNAT again for a session it could not count at delivery, until it can', async () => {
    const { rowId } = await completeRow();
    jobs.set(SERIES[0] ?? '', { delivered: 3, verified: null, uri: null });
    jobs.set(SERIES[1] ?? '', { delivered: 2, verified: 2, uri: null });
    const t = start();
    await t.start();
    expect((await ledger.row(rowId))?.state).toBe('delivered');
    expect(rechecks).toEqual([SERIES[0]]);
    // XNAT is still building the session: nothing recorded, asked again a minute later.
    xnat.set(SERIES[0] ?? '', 3);
    clock.advance(MINUTE);
    await settle();
    expect(rechecks).toEqual([SERIES[0], SERIES[0]]);
    expect(await ledger.row(rowId)).toMatchObject({ state: 'verified', xnatSession: 'S_01' });
  });

  it('counts a series again when a later batch of it is delivered after its first was verified', async () => {
    const { rowId } = await completeRow();
    const t = start();
    await t.start();
    // The first batch of the second series (1 of 2) was delivered and verified on its own, e.g.
    // before a restart interrupted the study's transfer; its other instance came in a batch of its own.
    jobs.set(SERIES[0] ?? '', { delivered: 3, verified: 3, uri: null });
    jobs.set(SERIES[1] ?? '', { delivered: 1, verified: 1, uri: null });
    await t.study(STUDY);
    expect((await ledger.row(rowId))?.state).toBe('complete');
    jobs.set(SERIES[1] ?? '', { delivered: 2, verified: 2, uri: null });
    await t.study(STUDY);
    expect((await ledger.series(rowId)).map((s) => [s.delivered, s.verified])).toEqual([
      [3, 3],
      [2, 2],
    ]);
    expect((await ledger.row(rowId))?.state).toBe('verified');
    expect(rechecks).toEqual([]);
  });

  it('keeps asking XNAT about a delivered row whose series it holds fewer of, and verifies it once XNAT has them all', async () => {
    const { rowId } = await completeRow();
    jobs.set(SERIES[0] ?? '', { delivered: 3, verified: 3, uri: null });
    jobs.set(SERIES[1] ?? '', { delivered: 2, verified: 2, uri: null });
    const t = start();
    await t.start();
    expect((await ledger.row(rowId))?.state).toBe('verified');
    // The daily re-check finds an instance gone: the row goes back to delivered…
    xnat.set(SERIES[0] ?? '', 3);
    xnat.set(SERIES[1] ?? '', 1);
    clock.advance(24 * 60 * MINUTE);
    await settle();
    expect((await ledger.row(rowId))?.state).toBe('delivered');
    // … and is asked about every interval, not left there: once XNAT holds it again (re-sent), verified.
    const asked = rechecks.length;
    clock.advance(MINUTE);
    await settle();
    expect(rechecks.slice(asked)).toEqual([SERIES[1]]);
    xnat.set(SERIES[1] ?? '', 2);
    clock.advance(MINUTE);
    await settle();
    expect((await ledger.row(rowId))?.state).toBe('verified');
  });

  it("ends a row failed, with the dead job's reason, when a series cannot be delivered, and its pull ends", async () => {
    const { pullId, rowId } = await completeRow();
    jobs.set(SERIES[0] ?? '', { delivered: 3, verified: 3, uri: null });
    jobs.set(SERIES[1] ?? '', {
      delivered: 0,
      verified: null,
      uri: null,
      failed: { code: 'ERR_XNAT_VERIFY', reason: 'Session P/S/E is archived but has no scan with this series.' },
    });
    const t = start();
    await t.start();
    expect(await ledger.row(rowId)).toMatchObject({
      state: 'failed',
      reason: 'delivery failed (ERR_XNAT_VERIFY): Session P/S/E is archived but has no scan with this series.',
      lastCode: 'ERR_XNAT_VERIFY',
    });
    expect((await ledger.getPull(pullId))?.state).toBe('ended');
    expect(warnings).toContain('A pulled series could not be delivered.');
    // Retried by a person once the job is requeued: the row starts again.
    await ledger.choose(rowId, null, clock.now());
    expect((await ledger.row(rowId))?.state).toBe('pending');
  });

  it('re-checks verified rows daily and flags one whose series lost instances in XNAT', async () => {
    const { rowId } = await completeRow();
    jobs.set(SERIES[0] ?? '', { delivered: 3, verified: 3, uri: null });
    jobs.set(SERIES[1] ?? '', { delivered: 2, verified: 2, uri: null });
    const t = start();
    await t.start();
    expect((await ledger.row(rowId))?.state).toBe('verified');
    xnat.set(SERIES[0] ?? '', 3);
    xnat.set(SERIES[1] ?? '', 0);
    clock.advance(60 * MINUTE);
    await settle();
    expect(rechecks).toEqual([]);
    clock.advance(24 * 60 * MINUTE);
    await settle();
    expect(rechecks).toEqual(SERIES);
    const row = await ledger.row(rowId);
    expect(row?.state).toBe('delivered');
    expect((await ledger.series(rowId)).map((s) => s.verified)).toEqual([3, 0]);
    expect(warnings).toContain('XNAT holds fewer instances of a pulled series than were verified before.');
  });
});
