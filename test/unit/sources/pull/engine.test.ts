import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FindSession, QrClient, RetrieveResult } from '../../../../src/dicom/qr/api.ts';
import { QrError } from '../../../../src/dicom/qr/failure.ts';
import { ErrorCode } from '../../../../src/errors.ts';
import { createLogger } from '../../../../src/log.ts';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { pacsConfig, pullConfig } from '../../../../src/sources/pull/config.ts';
import { createPullService, type PullService } from '../../../../src/sources/pull/engine.ts';
import { createSqlitePullLedger } from '../../../../src/store/sqlite/pulls.ts';
import type { PullLedger } from '../../../../src/contracts/pull-ledger.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';

const MON_NOON = Date.parse('2024-03-04T12:00:00Z');

interface Study {
  uid: string;
  accession: string;
  series: Record<string, number>;
}

/** A fake PACS behind the QrClient interface: studies, arrivals, and knobs for failures. */
function fakePacs(studies: Study[]) {
  const arrived = new Map<string, Map<string, number>>();
  const state = {
    down: false as boolean | QrError | Error,
    moveAnswer: null as ((s: Study) => Partial<RetrieveResult>) | null,
    deliver: (s: Study): Record<string, number> => s.series,
    block: null as Promise<void> | null,
    /** When set, only these studies block. */
    blockUids: null as Set<string> | null,
    open: 0,
    maxOpen: 0,
    opened: [] as number[],
    moves: 0,
  };
  let clock: FakeClock | null = null;
  const enter = (): void => {
    if (state.down) {
      throw state.down === true ? new QrError('connect', 'connection refused') : state.down;
    }
    state.open++;
    state.opened.push(clock?.now() ?? 0);
    state.maxOpen = Math.max(state.maxOpen, state.open);
  };
  const find: FindSession['find'] = (level, keys) => {
    if (level === 'STUDY') {
      return Promise.resolve({
        matches: studies
          .filter((s) => s.accession === keys.AccessionNumber || s.uid === keys.StudyInstanceUID)
          .map((s) => ({ StudyInstanceUID: s.uid, AccessionNumber: s.accession })),
        optionalKeysUnsupported: false,
      });
    }
    const s = studies.find((x) => x.uid === keys.StudyInstanceUID);
    return Promise.resolve({
      matches: Object.entries(s?.series ?? {}).map(([uid, n]) => ({
        SeriesInstanceUID: uid,
        NumberOfSeriesRelatedInstances: String(n),
      })),
      optionalKeysUnsupported: false,
    });
  };
  const move = async (
    _level: string,
    keys: Record<string, string>,
    o: { signal: AbortSignal },
  ): Promise<RetrieveResult> => {
    enter();
    try {
      state.moves++;
      if (state.block && (!state.blockUids || state.blockUids.has(keys.StudyInstanceUID ?? ''))) {
        const b = state.block;
        await new Promise<void>((resolve, reject) => {
          void b.then(resolve);
          o.signal.addEventListener(
            'abort',
            () => {
              reject(new QrError('interrupted', 'cancelled'));
            },
            { once: true },
          );
        });
      }
      const s = studies.find((x) => x.uid === keys.StudyInstanceUID);
      if (!s) {
        return result({ status: 0xc000, statusClass: 'permanent' });
      }
      const a = arrived.get(s.uid) ?? new Map<string, number>();
      arrived.set(s.uid, a);
      for (const [uid, n] of Object.entries(state.deliver(s))) {
        if (!keys.SeriesInstanceUID || keys.SeriesInstanceUID === uid) {
          a.set(uid, Math.max(a.get(uid) ?? 0, n));
        }
      }
      return result({ completed: Object.values(s.series).reduce((x, y) => x + y, 0), ...state.moveAnswer?.(s) });
    } finally {
      state.open--;
    }
  };
  const client: QrClient = {
    peer: { host: 'h', port: 1, calledAe: 'PACS', callingAe: 'XNAT' },
    echo: () => Promise.resolve(),
    find: (level, keys) => find(level, keys),
    async findSession(_signal, fn) {
      enter();
      try {
        return await fn({ find });
      } finally {
        state.open--;
      }
    },
    move: (level, keys, o) => move(level, keys, o),
    get: (level, keys, o) => move(level, keys, o),
  };
  return {
    state,
    client,
    arrived,
    setClock: (c: FakeClock) => {
      clock = c;
    },
    arrivals: { received: (uid: string) => Promise.resolve(new Map(arrived.get(uid) ?? [])) },
  };
}

function result(o: Partial<RetrieveResult>): RetrieveResult {
  return {
    status: 0,
    statusClass: 'success',
    errorComment: null,
    remaining: null,
    completed: 0,
    failed: 0,
    warning: 0,
    pendingResponses: 0,
    cancelled: false,
    stored: 0,
    refused: 0,
    failedSopInstanceUids: [],
    ...o,
  };
}

const csv = (...acc: string[]): Buffer => Buffer.from(`AccessionNumber\n${acc.join('\n')}\n`);

describe('pull service', () => {
  let dir: string;
  let db: Db;
  let ledger: PullLedger;
  let clock: FakeClock;
  let svc: PullService | null;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-pull-engine-'));
    db = openDb(join(dir, 'gw.sqlite'));
    ledger = createSqlitePullLedger(db);
    clock = createFakeClock(MON_NOON);
    svc = null;
  });
  afterEach(async () => {
    await svc?.stop();
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function start(
    pacs: ReturnType<typeof fakePacs>,
    o: { pacs?: Record<string, unknown>; pull?: Record<string, unknown> } = {},
  ): PullService {
    pacs.setClock(clock);
    svc = createPullService({
      ledger,
      clock,
      log: createLogger('silent'),
      random: () => 0.5,
      pacs: [
        pacsConfig.parse({
          name: 'pacs',
          aeTitle: 'PACS',
          host: 'h',
          port: 104,
          schedule: { timeZone: 'UTC' },
          ...o.pacs,
        }),
      ],
      config: pullConfig.parse({
        arrivalTimeoutMs: 5000,
        arrivalPollMs: 1000,
        backoffBaseMs: 10_000,
        backoffMaxMs: 60_000,
        ...o.pull,
      }),
      target: {
        destinationAe: 'XNAT',
        store: () => {
          throw new Error('unused');
        },
        arrivals: pacs.arrivals,
      },
      client: () => pacs.client,
    });
    return svc;
  }

  /** Lets promises run and moves the clock on until `done` holds (or gives up). */
  async function until(done: () => Promise<boolean>, stepMs = 1000, maxSteps = 2000): Promise<void> {
    for (let i = 0; i < maxSteps; i++) {
      for (let j = 0; j < 20; j++) {
        await new Promise((r) => setImmediate(r));
      }
      if (await done()) {
        return;
      }
      clock.advance(stepMs);
    }
    throw new Error(
      `the condition never held; rows: ${JSON.stringify(db.prepare('SELECT line, state, attempts, last_code, last_error FROM pull_rows').all())}`,
    );
  }

  const states = async (pullId: number): Promise<string[]> => (await ledger.rows(pullId)).map((r) => r.state);

  it('takes a list to its terminal states: complete, not-found, ambiguous, duplicate, invalid', async () => {
    const pacs = fakePacs([
      { uid: '1', accession: 'A1', series: { '1.1': 3, '1.2': 2 } },
      { uid: '2', accession: 'TWICE', series: { '2.1': 1 } },
      { uid: '3', accession: 'TWICE', series: { '3.1': 1 } },
    ]);
    const s = start(pacs);
    await s.start();
    const pull = await s.submit(csv('A1', 'A1 ', 'UNKNOWN', 'TWICE', 'A*'), { pacs: 'pacs' });
    await until(async () => !(await states(pull.id)).some((x) => ['pending', 'queued', 'retrieving'].includes(x)));
    expect(await states(pull.id)).toEqual(['complete', 'duplicate', 'not-found', 'ambiguous', 'invalid']);
    const rows = await ledger.rows(pull.id);
    expect(rows[0]).toMatchObject({
      expectedInstances: 5,
      receivedInstances: 5,
      retrieve: { status: 0, completed: 5 },
    });
    expect(rows[3]?.candidates?.map((c) => c.studyInstanceUid)).toEqual(['2', '3']);
    // The ambiguous row is resolved by a person, then pulled.
    await s.choose(rows[3]?.id ?? 0, '3');
    await until(async () => (await ledger.row(rows[3]?.id ?? 0))?.state === 'complete');
    expect(pacs.arrived.get('3')).toEqual(new Map([['3.1', 1]]));
    const report = await s.report(pull.id, { identifiers: false });
    expect(report.split('\r\n')[0]).toMatch(/^line,state,reason,accession_number/);
    expect(report).not.toContain('A1,');
  });

  it('retries a C-MOVE Success that delivers nothing, then fails the row with the reason', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 3 } }]);
    pacs.state.deliver = () => ({});
    pacs.state.moveAnswer = () => ({ completed: 0 });
    const s = start(pacs, { pull: { maxAttempts: 3 } });
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(async () => (await states(pull.id))[0] === 'failed');
    const [row] = await ledger.rows(pull.id);
    expect(row).toMatchObject({ state: 'failed', attempts: 3, lastCode: ErrorCode.PULL_NOTHING_ARRIVED });
    expect(row?.reason).toMatch(/C-MOVE answered 0x0000 \(success\) with 0 sub-operations and nothing arrived/);
    expect(pacs.state.moves).toBe(3);
    expect((await ledger.getPull(pull.id))?.state).toBe('ended');
  });

  it('ends a row partial with n of m when instances stay missing', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 3 } }]);
    pacs.state.deliver = () => ({ '1.1': 2 });
    pacs.state.moveAnswer = () => ({ status: 0xb000, statusClass: 'warning', completed: 2, failed: 1 });
    const s = start(pacs, { pull: { maxAttempts: 2 } });
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(async () => (await states(pull.id))[0] === 'partial');
    expect((await ledger.rows(pull.id))[0]).toMatchObject({
      receivedInstances: 2,
      expectedInstances: 3,
      lastCode: ErrorCode.PULL_INCOMPLETE,
      retrieve: { status: 0xb000, failed: 1 },
    });
  });

  it('opens the PACS circuit while it is unreachable without using up attempts, and carries on when it is back', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 1 } }]);
    pacs.state.down = true;
    const s = start(pacs, {
      pull: { maxAttempts: 2, breaker: { failureThreshold: 2, openMs: 30_000, maxOpenMs: 60_000 } },
    });
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(() => Promise.resolve(s.status()[0]?.circuit?.state === 'open'));
    clock.advance(10 * 60_000);
    for (let j = 0; j < 50; j++) {
      await new Promise((r) => setImmediate(r));
    }
    expect((await ledger.rows(pull.id))[0]).toMatchObject({
      state: 'pending',
      attempts: 0,
      lastCode: ErrorCode.PACS_UNAVAILABLE,
    });
    pacs.state.down = false;
    await until(async () => (await states(pull.id))[0] === 'complete');
    expect(s.status()[0]?.circuit?.state).toBe('closed');
  });

  it('never leaves the circuit half-open when its probe ends in a failure of our own', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 1 } }]);
    pacs.state.down = true;
    const s = start(pacs, {
      pull: { maxAttempts: 5, breaker: { failureThreshold: 2, openMs: 30_000, maxOpenMs: 60_000 } },
    });
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(() => Promise.resolve(s.status()[0]?.circuit?.state === 'open'));
    // The probe meets an error that is neither the PACS's nor the study's (a bug, a full database).
    pacs.state.down = new Error('not a PACS failure');
    await until(async () => ((await ledger.rows(pull.id))[0]?.lastCode ?? '') === ErrorCode.JOB_UNEXPECTED);
    // The circuit opened again instead of waiting for a verdict that never comes: the next probe runs.
    expect(s.status()[0]?.circuit?.state).not.toBe('half-open');
    pacs.state.down = false;
    await until(async () => (await states(pull.id))[0] === 'complete');
    expect(s.status()[0]?.circuit?.state).toBe('closed');
  });

  it("pauses the PACS's pulls with the reason when it refuses our AE title", async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 1 } }]);
    pacs.state.down = new QrError(
      'rejected',
      'association rejected permanently by the service user (calling AE title not recognised; result 1, source 1, reason 3)',
      { reject: { result: 1, source: 1, reason: 3 } },
    );
    const s = start(pacs);
    await s.start();
    const pull = await s.submit(csv('A1', 'A2'), { pacs: 'pacs' });
    await until(async () => (await ledger.getPull(pull.id))?.state === 'paused');
    expect((await ledger.getPull(pull.id))?.pauseReason).toMatch(
      /^ERR_PACS_REFUSED: C-FIND to PACS@h:104: association rejected permanently .*calling AE title not recognised/,
    );
    expect((await ledger.rows(pull.id)).map((r) => [r.state, r.attempts])).toEqual([
      ['pending', 0],
      ['pending', 0],
    ]);
    pacs.state.down = false;
    await s.resume(pull.id);
    await until(async () => (await states(pull.id)).join() === 'complete,not-found');
  });

  it('sends nothing outside the window and starts when it opens', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 1 } }]);
    const s = start(pacs, { pacs: { schedule: { timeZone: 'UTC', windows: [{ from: '20:00', to: '06:00' }] } } });
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(() => Promise.resolve(clock.now() >= Date.parse('2024-03-04T19:59:00Z')), 60_000);
    expect(pacs.state.opened).toEqual([]);
    await until(async () => (await states(pull.id))[0] === 'complete', 60_000);
    expect(Math.min(...pacs.state.opened)).toBeGreaterThanOrEqual(Date.parse('2024-03-04T20:00:00Z'));
  });

  it('never opens more associations than the window allows, and spaces them by the utilisation cap', async () => {
    const studies = Array.from({ length: 8 }, (_, i) => ({
      uid: String(i + 1),
      accession: `A${String(i + 1)}`,
      series: { [`${String(i + 1)}.1`]: 1 },
    }));
    const pacs = fakePacs(studies);
    let release: () => void = () => undefined;
    pacs.state.block = new Promise((r) => {
      release = r;
    });
    const s = start(pacs, {
      pacs: { schedule: { timeZone: 'UTC', windows: [{ maxAssociations: 2, maxStudiesInFlight: 2 }] } },
    });
    await s.start();
    const pull = await s.submit(csv(...studies.map((x) => x.accession)), { pacs: 'pacs' });
    await until(() => Promise.resolve(pacs.state.moves >= 2));
    expect(pacs.state.open).toBe(2);
    release();
    pacs.state.block = null;
    await until(async () => (await states(pull.id)).every((x) => x === 'complete'));
    expect(pacs.state.maxOpen).toBe(2);
  });

  it('at 50 % utilisation rests each slot as long as its association took', async () => {
    const pacs = fakePacs([
      { uid: '1', accession: 'A1', series: { '1.1': 1 } },
      { uid: '2', accession: 'A2', series: { '2.1': 1 } },
    ]);
    const s = start(pacs, { pacs: { schedule: { timeZone: 'UTC', windows: [{ utilisationPercent: 50 }] } } });
    // Each association takes 10 s of fake time.
    const find = pacs.client.findSession.bind(pacs.client);
    const move = pacs.client.move.bind(pacs.client);
    pacs.client.findSession = async (signal, fn) => {
      const r = await find(signal, fn);
      clock.advance(10_000);
      return r;
    };
    pacs.client.move = async (level, keys, o) => {
      const r = await move(level, keys, o);
      clock.advance(10_000);
      return r;
    };
    await s.start();
    const pull = await s.submit(csv('A1', 'A2'), { pacs: 'pacs' });
    await until(async () => (await states(pull.id)).every((x) => x === 'complete'), 1000);
    const gaps = pacs.state.opened.slice(1).map((t, i) => t - (pacs.state.opened[i] ?? 0));
    // Every association (10 s of work) is followed by at least 10 s of rest.
    expect(gaps.every((g) => g >= 20_000)).toBe(true);
  });

  it('pause interrupts a running retrieve without costing an attempt; cancel ends the pull', async () => {
    const pacs = fakePacs([
      { uid: '1', accession: 'A1', series: { '1.1': 1 } },
      { uid: '2', accession: 'A2', series: { '2.1': 1 } },
    ]);
    pacs.state.block = new Promise(() => undefined);
    const s = start(pacs);
    await s.start();
    const pull = await s.submit(csv('A1', 'A2'), { pacs: 'pacs' });
    await until(async () => (await states(pull.id))[0] === 'retrieving');
    await s.pause(pull.id);
    expect((await ledger.rows(pull.id))[0]).toMatchObject({ state: 'queued', attempts: 0 });
    expect(await ledger.getPull(pull.id)).toMatchObject({ state: 'paused', pauseReason: 'paused by an administrator' });
    pacs.state.blockUids = new Set(['2']);
    await s.resume(pull.id);
    await until(async () => (await states(pull.id)).join() === 'complete,retrieving');
    await s.cancel(pull.id);
    expect(await states(pull.id)).toEqual(['complete', 'cancelled']);
    expect((await ledger.getPull(pull.id))?.state).toBe('cancelled');
  });

  it('resumes after a restart: a study that arrived whole is not fetched again', async () => {
    const pacs = fakePacs([{ uid: '1', accession: 'A1', series: { '1.1': 2 } }]);
    pacs.state.block = new Promise(() => undefined);
    const s = start(pacs);
    await s.start();
    const pull = await s.submit(csv('A1'), { pacs: 'pacs' });
    await until(async () => (await states(pull.id))[0] === 'retrieving');
    // The process dies mid-retrieve after the instances arrived: the row is left retrieving.
    pacs.arrived.set('1', new Map([['1.1', 2]]));
    db.prepare("UPDATE pull_rows SET state = 'retrieving'").run();
    svc = null;
    const moves = pacs.state.moves;
    pacs.state.block = null;
    const again = start(pacs);
    await again.start();
    await until(async () => (await states(pull.id))[0] === 'complete');
    expect(pacs.state.moves).toBe(moves);
    expect((await ledger.events((await ledger.rows(pull.id))[0]?.id ?? 0)).map((e) => e.kind)).toContain('recovered');
  });

  it('refuses an unknown PACS and an unreadable list with their codes', async () => {
    const s = start(fakePacs([]));
    await expect(s.submit(csv('A1'), { pacs: 'nope' })).rejects.toMatchObject({ code: ErrorCode.PULL_PACS_UNKNOWN });
    await expect(s.submit(Buffer.from('Name\nx\n'), { pacs: 'pacs' })).rejects.toMatchObject({
      code: ErrorCode.PULL_LIST,
    });
  });
});
