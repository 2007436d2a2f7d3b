import { describe, expect, it } from 'vitest';
import type { QrClient, RetrieveResult } from '../../../../src/dicom/qr/api.ts';
import type { QrLevel } from '../../../../src/dicom/qr/sop-classes.ts';
import { ErrorCode } from '../../../../src/errors.ts';
import { pacsConfig } from '../../../../src/sources/pull/config.ts';
import type { SeriesRecord } from '../../../../src/contracts/pull-ledger.ts';
import { retrieveStudy, type RetrieveVerdict } from '../../../../src/sources/pull/retrieve.ts';
import { createFakeClock, type FakeClock } from '../../../helpers/fake-clock.ts';

const ok = (o: Partial<RetrieveResult> = {}): RetrieveResult => ({
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
});
const series = (...counts: (number | null)[]): SeriesRecord[] =>
  counts.map((expected, i) => ({
    seriesInstanceUid: `S${String(i + 1)}`,
    modality: 'CT',
    seriesNumber: String(i + 1),
    expected,
    received: 0,
    delivered: null,
    verified: null,
  }));

/** A fake PACS: each move() delivers `deliver(level, keys)` into `arrived` and answers `answer`. */
function world(
  o: {
    deliver?: (level: QrLevel, keys: Record<string, string>) => Record<string, number>;
    answer?: RetrieveResult;
    retrieve?: 'move' | 'get';
    level?: 'study' | 'series';
    onPoll?: (arrived: Map<string, number>) => void;
  } = {},
) {
  const arrived = new Map<string, number>();
  const calls: [QrLevel, Record<string, string>][] = [];
  let associationsDone = 0;
  const move = (level: QrLevel, keys: Record<string, string>): Promise<RetrieveResult> => {
    calls.push([level, keys]);
    for (const [s, n] of Object.entries(o.deliver?.(level, keys) ?? {})) {
      arrived.set(s, (arrived.get(s) ?? 0) + n);
    }
    return Promise.resolve(o.answer ?? ok());
  };
  const client = { move, get: move } as unknown as QrClient;
  const clock = createFakeClock();
  const pacs = pacsConfig.parse({
    name: 'pacs',
    aeTitle: 'PACS',
    host: 'h',
    port: 104,
    retrieve: o.retrieve ?? 'move',
    retrieveLevel: o.level ?? 'study',
  });
  const run = (s: SeriesRecord[], ac = new AbortController()) =>
    retrieveStudy(
      {
        client,
        pacs,
        clock,
        signal: ac.signal,
        arrivalTimeoutMs: 10_000,
        arrivalPollMs: 1000,
        associationsDone: () => {
          associationsDone++;
        },
        target: {
          destinationAe: 'XNAT',
          store: () => {
            throw new Error('unused');
          },
          arrivals: {
            received: () => {
              o.onPoll?.(arrived);
              return Promise.resolve(new Map(arrived));
            },
          },
        },
      },
      '1.2.3',
      s,
    );
  return { arrived, calls, clock, run, associations: () => associationsDone };
}

/** Runs `p` to the end, moving the fake clock forward whenever it waits. */
async function drive(clock: FakeClock, p: Promise<RetrieveVerdict>): Promise<RetrieveVerdict> {
  const state = { done: false };
  void p.finally(() => {
    state.done = true;
  });
  for (let i = 0; i < 1000 && !state.done; i++) {
    await new Promise((r) => setImmediate(r));
    clock.advance(500);
  }
  return p;
}

describe('retrieve step', () => {
  it('is complete when every counted instance has arrived', async () => {
    const w = world({ deliver: () => ({ S1: 3, S2: 2 }), answer: ok({ completed: 5 }) });
    const v = await drive(w.clock, w.run(series(3, 2)));
    expect(v).toMatchObject({ kind: 'complete', fetched: true });
    expect(w.calls).toEqual([['STUDY', { StudyInstanceUID: '1.2.3' }]]);
    expect(w.associations()).toBe(1);
  });

  it('does not fetch a study that already arrived whole (a restart after the instances came)', async () => {
    const w = world();
    w.arrived.set('S1', 3);
    const v = await drive(w.clock, w.run(series(3)));
    expect(v).toMatchObject({ kind: 'complete', fetched: false });
    expect(w.calls).toEqual([]);
  });

  it('asks only for the incomplete series on a retry', async () => {
    const w = world({ deliver: (_, k) => (k.SeriesInstanceUID === 'S2' ? { S2: 2 } : {}) });
    w.arrived.set('S1', 3);
    const v = await drive(w.clock, w.run(series(3, 2)));
    expect(v.kind).toBe('complete');
    expect(w.calls).toEqual([['SERIES', { StudyInstanceUID: '1.2.3', SeriesInstanceUID: 'S2' }]]);
  });

  it('detects a C-MOVE Success with zero sub-operations that delivers nothing', async () => {
    const w = world({ answer: ok({ completed: 0 }) });
    const started = w.clock.now();
    const v = await drive(w.clock, w.run(series(3)));
    expect(v).toMatchObject({ kind: 'incomplete', code: ErrorCode.PULL_NOTHING_ARRIVED, pacsFault: false });
    expect(v.kind === 'incomplete' ? v.reason : '').toBe(
      'C-MOVE answered 0x0000 (success) with 0 sub-operations and nothing arrived within 10 s; 0 of 3 instances received (1 series incomplete)',
    );
    expect(w.clock.now() - started).toBeGreaterThanOrEqual(10_000);
  });

  it('tells a Success with sub-operations that never arrive apart (the PACS sends them elsewhere)', async () => {
    const w = world({ answer: ok({ completed: 3 }) });
    const v = await drive(w.clock, w.run(series(3)));
    expect(v.kind === 'incomplete' ? v.reason : '').toMatch(
      /^C-MOVE reported 3 instances sent but none arrived within 10 s \(check the PACS's address for our AE title\)/,
    );
  });

  it('reports failed sub-operations and how many instances arrived', async () => {
    const w = world({
      deliver: () => ({ S1: 2 }),
      answer: ok({ status: 0xb000, statusClass: 'warning', completed: 2, failed: 1 }),
    });
    const v = await drive(w.clock, w.run(series(3)));
    expect(v).toMatchObject({ kind: 'incomplete', code: ErrorCode.PULL_INCOMPLETE });
    expect(v.kind === 'incomplete' ? v.reason : '').toBe(
      'the PACS reported 1 failed sub-operation; 2 of 3 instances received (1 series incomplete)',
    );
    expect(v.received).toEqual(new Map([['S1', 2]]));
  });

  it('keeps waiting while instances still trickle in, far beyond the arrival timeout in all', async () => {
    // One more instance per poll (1 s): 30 instances take 30 s against a 10 s quiet timeout.
    const w = world({
      answer: ok({ completed: 30 }),
      onPoll: (a) => {
        a.set('S1', Math.min(30, (a.get('S1') ?? -2) + 1));
      },
    });
    const started = w.clock.now();
    const v = await drive(w.clock, w.run(series(30)));
    expect(v.kind).toBe('complete');
    expect(w.clock.now() - started).toBeGreaterThan(20_000);
  });

  it('classifies refusals: unknown move destination, out of resources, cannot process', async () => {
    const dest = world({ answer: ok({ status: 0xa801, statusClass: 'permanent' }) });
    expect(await drive(dest.clock, dest.run(series(1)))).toMatchObject({
      kind: 'incomplete',
      destinationUnknown: true,
      code: ErrorCode.PACS_REFUSED,
    });
    const busy = world({ answer: ok({ status: 0xa702, statusClass: 'transient' }) });
    expect(await drive(busy.clock, busy.run(series(1)))).toMatchObject({
      kind: 'incomplete',
      pacsFault: true,
      code: ErrorCode.PACS_UNAVAILABLE,
    });
    const c000 = world({
      answer: ok({ status: 0xc000, statusClass: 'permanent', errorComment: 'no such study' }),
      level: 'series',
    });
    const v = await drive(c000.clock, c000.run(series(1, 1)));
    expect(v.kind === 'incomplete' ? v.reason : '').toMatch(
      /^C-MOVE answered 0xC000 \(unable to process\): no such study; 0 of 2/,
    );
    expect(c000.calls).toHaveLength(1);
  });

  it('counts an uncounted series complete once anything of it arrived', async () => {
    const w = world({ deliver: () => ({ S1: 4 }), retrieve: 'get' });
    expect((await drive(w.clock, w.run(series(null)))).kind).toBe('complete');
  });
});
