import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { createAdmission, type AdmissionDeps } from '../../../src/spool/admission.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';

const GiB = 1024 ** 3;

describe('admission', () => {
  let clock: FakeClock;
  let free: number;
  let pending: number;
  let statCalls: number;
  const deps = (o: Partial<AdmissionDeps> = {}): AdmissionDeps => ({
    dataDir: '/data',
    clock,
    minFreeBytes: 2 * GiB,
    maxPendingInstances: 100,
    pendingCount: () => pending,
    freeBytes: () => {
      statCalls++;
      return free;
    },
    ...o,
  });

  beforeEach(() => {
    clock = createFakeClock();
    free = 10 * GiB;
    pending = 0;
    statCalls = 0;
  });

  it('admits work while the disk has headroom and the backlog is within the limit', () => {
    pending = 100;
    expect(createAdmission(deps()).check()).toEqual({ ok: true });
  });

  it('refuses with ERR_SPOOL_FULL when free space drops below the watermark', () => {
    free = 2 * GiB - 1;
    const r = createAdmission(deps()).check();
    expect(r).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(r.ok ? '' : r.message).toContain(String(2 * GiB));
  });

  it('admits at exactly the watermark', () => {
    free = 2 * GiB;
    expect(createAdmission(deps()).check().ok).toBe(true);
  });

  it('refuses with ERR_QUEUE_BACKLOG when undelivered instances exceed the limit', () => {
    pending = 101;
    expect(createAdmission(deps()).check()).toMatchObject({ ok: false, code: ErrorCode.QUEUE_BACKLOG });
  });

  it('reports a full disk before a backlog', () => {
    free = 0;
    pending = 1_000;
    expect(createAdmission(deps()).check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
  });

  it('asks the file system about the data directory', () => {
    const dirs: string[] = [];
    createAdmission(deps({ dataDir: '/srv/xg', freeBytes: (d) => (dirs.push(d), free) })).check();
    expect(dirs).toEqual(['/srv/xg']);
  });

  it('reuses a reading for the cache period, then reads again', () => {
    const a = createAdmission(deps({ cacheMs: 1000 }));
    expect(a.check().ok).toBe(true);
    free = 0;
    clock.advance(999);
    expect(a.check().ok).toBe(true);
    expect(statCalls).toBe(1);
    clock.advance(1);
    expect(a.check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(statCalls).toBe(2);
  });

  it('recovers once space is freed and the cache has expired', () => {
    free = 0;
    const a = createAdmission(deps());
    expect(a.check().ok).toBe(false);
    free = 10 * GiB;
    clock.advance(1000);
    expect(a.check().ok).toBe(true);
  });

  it('reports its latest readings for /readyz and /metrics', () => {
    pending = 42;
    const a = createAdmission(deps());
    expect(a.readings()).toEqual({ freeBytes: 10 * GiB, pendingInstances: 42 });
    pending = 43;
    expect(a.readings().pendingInstances).toBe(42);
    clock.advance(1000);
    expect(a.readings().pendingInstances).toBe(43);
  });

  describe('without the test seam', () => {
    /** The deps without the freeBytes seam, so statfs runs on the real directory. */
    const realDeps = (o: Partial<AdmissionDeps>): AdmissionDeps => {
      const d: { -readonly [K in keyof AdmissionDeps]: AdmissionDeps[K] } = deps(o);
      delete d.freeBytes;
      return d;
    };

    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'xg-admission-'));
    });
    afterEach(() => { rmSync(dir, { recursive: true, force: true }); });

    it('measures the real free space of the data directory', () => {
      const a = createAdmission(realDeps({ dataDir: dir, minFreeBytes: 0 }));
      expect(a.check()).toEqual({ ok: true });
      expect(a.readings().freeBytes).toBeGreaterThan(0);
    });

    it('refuses when the real disk has less than an impossible watermark', () => {
      expect(createAdmission(realDeps({ dataDir: dir, minFreeBytes: Number.MAX_SAFE_INTEGER })).check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    });
  });
});
