import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { admissionMargin, createAdmission, type AdmissionDeps } from '../../../src/spool/admission.ts';
import { createDiskSpace } from '../../../src/spool/disk-space.ts';
import { createFakeClock, type FakeClock } from '../../helpers/fake-clock.ts';

const GiB = 1024 ** 3;

describe('admission', () => {
  let clock: FakeClock;
  let free: number;
  let pending: number;
  let statCalls: number;
  type Options = Partial<Omit<AdmissionDeps, 'space'>> & {
    minFreeBytes?: number;
    freeBytes?: ((dir: string) => number) | null;
  };
  /** Deps over a real DiskSpace; `freeBytes: null` measures the real file system. */
  const deps = (o: Options = {}): AdmissionDeps => {
    const { minFreeBytes = 2 * GiB, freeBytes, ...rest } = o;
    const probe =
      freeBytes === null
        ? undefined
        : (freeBytes ??
          (() => {
            statCalls++;
            return free;
          }));
    return {
      dataDir: tmpdir(),
      clock,
      maxPendingInstances: 100,
      pendingCount: () => Promise.resolve(pending),
      space: createDiskSpace({ minFreeBytes, freeBytes: probe }),
      ...rest,
    };
  };

  beforeEach(() => {
    clock = createFakeClock();
    free = 10 * GiB;
    pending = 0;
    statCalls = 0;
  });

  it('admits work while the disk has headroom and the backlog is within the limit', async () => {
    pending = 100;
    expect(await createAdmission(deps()).check()).toEqual({ ok: true });
  });

  it('refuses with ERR_SPOOL_FULL when free space drops below the watermark', async () => {
    free = 2 * GiB - 1;
    const r = await createAdmission(deps()).check();
    expect(r).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(r.ok ? '' : r.message).toContain(String(2 * GiB));
  });

  it('admits new work only with a margin above the watermark (writers stop exactly at it)', async () => {
    const margin = admissionMargin(2 * GiB);
    expect(margin).toBe(64 * 1024 * 1024);
    free = 2 * GiB + margin;
    expect((await createAdmission(deps()).check()).ok).toBe(true);
    free = 2 * GiB + margin - 1;
    expect(await createAdmission(deps()).check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(admissionMargin(12 * 1024 * 1024)).toBe(1024 * 1024);
    expect(admissionMargin(0)).toBe(1024 * 1024);
  });

  it('refuses with ERR_QUEUE_BACKLOG when undelivered instances exceed the limit', async () => {
    pending = 101;
    expect(await createAdmission(deps()).check()).toMatchObject({ ok: false, code: ErrorCode.QUEUE_BACKLOG });
  });

  it('reports a full disk before a backlog', async () => {
    free = 0;
    pending = 1_000;
    expect(await createAdmission(deps()).check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
  });

  it('asks the file system about the data directory', async () => {
    const dirs: string[] = [];
    const dataDir = mkdtempSync(join(tmpdir(), 'xg-admission-dir-'));
    try {
      await createAdmission(deps({ dataDir, freeBytes: (d) => (dirs.push(d), free) })).check();
      expect(dirs).toEqual([dataDir]);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('reads the free space afresh at every check (a reading reused for a second let a fast sender past the watermark)', async () => {
    const a = createAdmission(deps({ cacheMs: 1000 }));
    expect((await a.check()).ok).toBe(true);
    free = 0;
    expect(await a.check()).toMatchObject({ ok: false, code: ErrorCode.SPOOL_FULL });
    expect(statCalls).toBe(2);
  });

  it('counts what writers have reserved and not yet written as used', async () => {
    const d = deps();
    const a = createAdmission(d);
    const r = d.space.reserve(d.dataDir, 7 * GiB);
    expect((await a.check()).ok).toBe(true);
    free = 9 * GiB; // 9 free, 7 of them promised to a writer: 2 left, at the 2 GiB watermark with no margin
    expect(r).not.toBeNull();
    expect(await a.check()).toMatchObject({
      ok: false,
      code: ErrorCode.SPOOL_FULL,
      message: expect.stringContaining('reserved by writes in progress') as unknown,
    });
    r?.release();
    expect((await a.check()).ok).toBe(true);
  });

  it('reuses the backlog count for the cache period, then counts again', async () => {
    const a = createAdmission(deps({ cacheMs: 1000 }));
    expect((await a.check()).ok).toBe(true);
    pending = 101;
    clock.advance(999);
    expect((await a.check()).ok).toBe(true);
    clock.advance(1);
    expect(await a.check()).toMatchObject({ ok: false, code: ErrorCode.QUEUE_BACKLOG });
  });

  it('recovers as soon as space is freed', async () => {
    free = 0;
    const a = createAdmission(deps());
    expect((await a.check()).ok).toBe(false);
    free = 10 * GiB;
    expect((await a.check()).ok).toBe(true);
  });

  it('reports its latest readings for /readyz and /metrics', async () => {
    pending = 42;
    const a = createAdmission(deps());
    expect(await a.readings()).toEqual({ freeBytes: 10 * GiB, reservedBytes: 0, pendingInstances: 42 });
    pending = 43;
    expect((await a.readings()).pendingInstances).toBe(42);
    clock.advance(1000);
    expect((await a.readings()).pendingInstances).toBe(43);
  });

  describe('without the test seam', () => {
    /** The deps without the freeBytes seam, so statfs runs on the real directory. */
    const realDeps = (o: Options): AdmissionDeps => deps({ ...o, freeBytes: null });

    let dir: string;
    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'xg-admission-'));
    });
    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    it('measures the real free space of the data directory', async () => {
      const a = createAdmission(realDeps({ dataDir: dir, minFreeBytes: 0 }));
      expect(await a.check()).toEqual({ ok: true });
      expect((await a.readings()).freeBytes).toBeGreaterThan(0);
    });

    it('refuses when the real disk has less than an impossible watermark', async () => {
      expect(
        await createAdmission(realDeps({ dataDir: dir, minFreeBytes: Number.MAX_SAFE_INTEGER })).check(),
      ).toMatchObject({
        ok: false,
        code: ErrorCode.SPOOL_FULL,
      });
    });
  });
});
