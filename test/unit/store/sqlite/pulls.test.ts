import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import type { PullLedger } from '../../../../src/contracts/pull-ledger.ts';
import { createSqlitePullLedger } from '../../../../src/store/sqlite/pulls.ts';
import type { ListRow } from '../../../../src/sources/pull/rows.ts';

const T0 = 1_700_000_000_000;

function listRow(line: number, o: Partial<ListRow> = {}): ListRow {
  return {
    line,
    state: 'pending',
    key: { accessionNumber: `A${String(line)}`, patientId: 'PID', studyDateFrom: null, studyDateTo: null },
    labels: { project: 'P', subject: null, session: null },
    notes: [],
    reason: null,
    duplicateOf: null,
    ...o,
  };
}

describe('SQLite pull ledger', () => {
  let dir: string;
  let db: Db;
  let ledger: PullLedger;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-pull-ledger-'));
    db = openDb(join(dir, 'gw.sqlite'));
    ledger = createSqlitePullLedger(db);
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (rows: ListRow[], pacs = 'pacs') =>
    ledger.createPull({
      uid: `u-${String(Math.random())}`,
      pacs,
      project: 'P',
      fileName: 'list of Smith.csv',
      notes: ['n'],
      rows,
      at: T0,
    });

  it('records a pull with its rows; only pending rows are due', async () => {
    const pull = await create([
      listRow(2),
      listRow(3, { state: 'invalid', reason: 'bad' }),
      listRow(4, { state: 'duplicate', duplicateOf: 2, reason: 'dup' }),
    ]);
    expect(pull).toMatchObject({
      state: 'active',
      rowsTotal: 3,
      counts: { pending: 1, invalid: 1, duplicate: 1 },
      notes: ['n'],
      fileName: 'list of Smith.csv',
    });
    const due = await ledger.due('pacs', T0, 10, new Set());
    expect(due.map((r) => r.line)).toEqual([2]);
    expect(await ledger.due('other', T0, 10, new Set())).toEqual([]);
    expect(await ledger.due('pacs', T0, 10, new Set([due[0]?.id ?? 0]))).toEqual([]);
    expect(await ledger.nextDueAt('pacs', new Set())).toBe(T0);
    expect(await ledger.getPullByUid(pull.uid)).toMatchObject({ id: pull.id });
  });

  it('walks a row through resolution, retrieve and completion, keeping counts per series and an event trail', async () => {
    const pull = await create([listRow(2)]);
    const [row] = await ledger.rows(pull.id);
    if (!row) {
      throw new Error('no row');
    }
    expect(
      await ledger.resolved(row.id, {
        studyInstanceUid: '1.2',
        series: [
          { seriesInstanceUid: '1.2.1', modality: 'CT', seriesNumber: '1', expected: 3 },
          { seriesInstanceUid: '1.2.2', modality: 'CT', seriesNumber: '2', expected: 2 },
        ],
        at: T0 + 1,
      }),
    ).toBe('queued');
    await ledger.startRetrieve(row.id, T0 + 2);
    await ledger.recordReceived(row.id, new Map([['1.2.1', 1]]), T0 + 3);
    expect((await ledger.row(row.id))?.receivedInstances).toBe(1);
    await ledger.retrieved(row.id, {
      outcome: { state: 'complete' },
      counts: { status: 0, completed: 5, failed: 0, warning: 0 },
      received: new Map([
        ['1.2.1', 3],
        ['1.2.2', 2],
      ]),
      at: T0 + 4,
    });
    const done = await ledger.row(row.id);
    expect(done).toMatchObject({
      state: 'complete',
      studyInstanceUid: '1.2',
      expectedInstances: 5,
      receivedInstances: 5,
      attempts: 1,
      retrieve: { status: 0, completed: 5 },
      finishedAt: T0 + 4,
    });
    expect((await ledger.series(row.id)).map((s) => [s.seriesInstanceUid, s.expected, s.received])).toEqual([
      ['1.2.1', 3, 3],
      ['1.2.2', 2, 2],
    ]);
    expect((await ledger.events(row.id)).map((e) => e.kind)).toEqual([
      'listed',
      'resolved',
      'retrieve-started',
      'retrieved',
    ]);
    // Delivery and verification move it on; the pull then ends.
    expect(await ledger.endIfSettled(pull.id, { at: T0 + 5, retentionMs: 1000 })).toBe(false);
    for (const s of ['1.2.1', '1.2.2']) {
      await ledger.recordDelivery(row.id, {
        seriesInstanceUid: s,
        delivered: s === '1.2.1' ? 3 : 2,
        xnatSession: 'S_01',
        at: T0 + 6,
      });
    }
    expect(await ledger.row(row.id)).toMatchObject({ state: 'delivered', xnatSession: 'S_01' });
    for (const s of ['1.2.1', '1.2.2']) {
      await ledger.recordVerification(row.id, { seriesInstanceUid: s, verified: s === '1.2.1' ? 3 : 2, at: T0 + 7 });
    }
    expect((await ledger.row(row.id))?.state).toBe('verified');
    expect(await ledger.endIfSettled(pull.id, { at: T0 + 8, retentionMs: 1000 })).toBe(true);
    expect(await ledger.getPull(pull.id)).toMatchObject({ state: 'ended', endedAt: T0 + 8, purgeAt: T0 + 1008 });
  });

  it('makes a second row naming the same study a duplicate of the first', async () => {
    const pull = await create([listRow(2), listRow(3)]);
    const [a, b] = await ledger.rows(pull.id);
    const series = [{ seriesInstanceUid: 's', modality: null, seriesNumber: null, expected: 1 }];
    expect(await ledger.resolved(a?.id ?? 0, { studyInstanceUid: '9.9', series, at: T0 })).toBe('queued');
    expect(await ledger.resolved(b?.id ?? 0, { studyInstanceUid: '9.9', series, at: T0 })).toBe('duplicate');
    expect(await ledger.row(b?.id ?? 0)).toMatchObject({
      state: 'duplicate',
      duplicateOf: 2,
      reason: 'the same study as line 2',
    });
  });

  it('counts attempts only for failures of the study, and refuses moves the state machine forbids', async () => {
    const pull = await create([listRow(2)]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    await ledger.queryFailed(id, {
      code: 'ERR_PACS_UNAVAILABLE',
      reason: 'down',
      at: T0,
      nextAttemptAt: T0 + 60_000,
      countAttempt: false,
    });
    await ledger.queryFailed(id, {
      code: 'ERR_PACS_REFUSED',
      reason: 'C000',
      at: T0,
      nextAttemptAt: T0 + 60_000,
      countAttempt: true,
    });
    expect(await ledger.row(id)).toMatchObject({
      state: 'pending',
      attempts: 1,
      nextAttemptAt: T0 + 60_000,
      lastCode: 'ERR_PACS_REFUSED',
    });
    expect(await ledger.due('pacs', T0 + 59_999, 10, new Set())).toEqual([]);
    expect(await ledger.nextDueAt('pacs', new Set())).toBe(T0 + 60_000);
    await ledger.queryFailed(id, { code: 'ERR_PACS_REFUSED', reason: 'C000', at: T0, final: true });
    expect(await ledger.row(id)).toMatchObject({ state: 'failed', attempts: 2, reason: 'C000' });
    await expect(ledger.startRetrieve(id, T0)).rejects.toThrow(/cannot go from failed to retrieving/);
  });

  it('puts rows left retrieving back in the queue after a crash, without an attempt', async () => {
    const pull = await create([listRow(2)]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    await ledger.resolved(id, {
      studyInstanceUid: '1',
      series: [{ seriesInstanceUid: 's', modality: null, seriesNumber: null, expected: 1 }],
      at: T0,
    });
    await ledger.startRetrieve(id, T0);
    expect(await ledger.recover(T0 + 1)).toBe(1);
    expect(await ledger.row(id)).toMatchObject({ state: 'queued', attempts: 0, nextAttemptAt: null });
    expect((await ledger.due('pacs', T0 + 1, 10, new Set())).map((r) => r.id)).toEqual([id]);
  });

  it('lets a person choose among the candidates of an ambiguous row, and only among them', async () => {
    const pull = await create([listRow(2)]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    const c = {
      studyDate: null,
      studyDescription: null,
      modalities: null,
      accessionNumber: 'A2',
      patientId: 'PID',
      instances: null,
    };
    await ledger.ambiguous(id, {
      candidates: [
        { ...c, studyInstanceUid: '1' },
        { ...c, studyInstanceUid: '2' },
      ],
      at: T0,
    });
    expect(await ledger.row(id)).toMatchObject({ state: 'ambiguous', reason: '2 studies match; choose one' });
    await expect(ledger.choose(id, '3', T0)).rejects.toThrow(/not a candidate/);
    await ledger.choose(id, '2', T0 + 1);
    expect(await ledger.row(id)).toMatchObject({ state: 'pending', chosenStudyUid: '2', nextAttemptAt: T0 + 1 });
  });

  it('reopens an ended pull when a candidate is chosen, and refuses a choice in a cancelled pull', async () => {
    const pull = await create([listRow(2)]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    const c = {
      studyDate: null,
      studyDescription: null,
      modalities: null,
      accessionNumber: 'A2',
      patientId: 'PID',
      instances: null,
    };
    await ledger.ambiguous(id, {
      candidates: [
        { ...c, studyInstanceUid: '1' },
        { ...c, studyInstanceUid: '2' },
      ],
      at: T0,
    });
    expect(await ledger.endIfSettled(pull.id, { at: T0, retentionMs: 1000 })).toBe(true);
    await ledger.choose(id, '1', T0 + 1);
    expect(await ledger.getPull(pull.id)).toMatchObject({ state: 'active', endedAt: null, purgeAt: null });
    expect((await ledger.due('pacs', T0 + 1, 10, new Set())).map((r) => r.id)).toEqual([id]);
    const other = await create([listRow(2)]);
    const oid = (await ledger.rows(other.id))[0]?.id ?? 0;
    await ledger.ambiguous(oid, {
      candidates: [
        { ...c, studyInstanceUid: '1' },
        { ...c, studyInstanceUid: '2' },
      ],
      at: T0,
    });
    await ledger.cancelPull(other.id, { at: T0, retentionMs: 1000 });
    await expect(ledger.choose(oid, '1', T0 + 1)).rejects.toThrow(/was cancelled/);
  });

  it('ends a pull with delivered rows only when nothing is to be verified', async () => {
    const pull = await create([listRow(2)]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    await ledger.resolved(id, {
      studyInstanceUid: '9',
      series: [{ seriesInstanceUid: '9.1', modality: 'CT', seriesNumber: '1', expected: 1 }],
      at: T0,
    });
    await ledger.startRetrieve(id, T0);
    await ledger.retrieved(id, {
      outcome: { state: 'complete' },
      counts: null,
      received: new Map([['9.1', 1]]),
      at: T0,
    });
    await ledger.recordDelivery(id, { seriesInstanceUid: '9.1', delivered: 1, at: T0 });
    expect((await ledger.row(id))?.state).toBe('delivered');
    expect(await ledger.endIfSettled(pull.id, { at: T0, retentionMs: 1000 })).toBe(false);
    expect(await ledger.endIfSettled(pull.id, { at: T0, retentionMs: 1000, verifies: false })).toBe(true);
    expect((await ledger.rowsIn(['delivered'], '9')).map((r) => r.id)).toEqual([id]);
    expect(await ledger.rowsIn(['delivered'], '8')).toEqual([]);
  });

  it('pauses, resumes and cancels: paused pulls have nothing due, cancelled rows end', async () => {
    const pull = await create([listRow(2), listRow(3)]);
    await ledger.setPullState(pull.id, 'paused', 'night shift', T0);
    expect(await ledger.due('pacs', T0, 10, new Set())).toEqual([]);
    expect(await ledger.nextDueAt('pacs', new Set())).toBeNull();
    expect(await ledger.getPull(pull.id)).toMatchObject({ state: 'paused', pauseReason: 'night shift' });
    await ledger.setPullState(pull.id, 'active', null, T0);
    expect(await ledger.due('pacs', T0, 10, new Set())).toHaveLength(2);
    await ledger.cancelPull(pull.id, { at: T0 + 1, retentionMs: 10 });
    expect(await ledger.getPull(pull.id)).toMatchObject({
      state: 'cancelled',
      counts: { cancelled: 2 },
      purgeAt: T0 + 11,
    });
    await ledger.setPullState(pull.id, 'active', null, T0 + 2);
    expect((await ledger.getPull(pull.id))?.state).toBe('cancelled');
  });

  it('erases accession numbers, patient IDs, dates, candidates and the file name when the retention ends', async () => {
    const pull = await create([
      listRow(2, {
        key: { accessionNumber: 'ACC', patientId: 'PID', studyDateFrom: '20240101', studyDateTo: '20240101' },
      }),
    ]);
    const id = (await ledger.rows(pull.id))[0]?.id ?? 0;
    await ledger.notFound(id, { reason: 'no study', at: T0 });
    expect(await ledger.endIfSettled(pull.id, { at: T0, retentionMs: 1000 })).toBe(true);
    expect(await ledger.purgeExpired(T0 + 999)).toBe(0);
    expect(await ledger.purgeExpired(T0 + 1000)).toBe(1);
    expect(await ledger.purgeExpired(T0 + 2000)).toBe(0);
    expect(await ledger.getPull(pull.id)).toMatchObject({ fileName: null, purgedAt: T0 + 1000 });
    expect((await ledger.row(id))?.key).toEqual({
      accessionNumber: null,
      patientId: null,
      studyDateFrom: null,
      studyDateTo: null,
    });
    const raw =
      JSON.stringify(db.prepare('SELECT * FROM pull_rows').all()) +
      JSON.stringify(db.prepare('SELECT * FROM pulls').all()) +
      JSON.stringify(db.prepare('SELECT * FROM pull_events').all());
    expect(raw).not.toMatch(/ACC|PID|Smith|20240101/);
  });
});
