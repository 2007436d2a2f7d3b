import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createDiskSpace, isDiskFull } from '../../../src/spool/disk-space.ts';

const MiB = 1024 * 1024;

describe('disk space reservations', () => {
  let dir: string;
  let free: number;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-space-'));
    free = 100 * MiB;
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const space = (minFreeBytes = 10 * MiB) => createDiskSpace({ minFreeBytes, freeBytes: () => free });

  it('grants a reservation only while free space minus what others hold stays above the watermark', () => {
    const s = space();
    const a = s.reserve(dir, 60 * MiB);
    expect(a).not.toBeNull();
    // 100 free, 60 promised: a second writer asking for 40 would leave 0, below the 10 MiB watermark.
    expect(s.reserve(dir, 40 * MiB)).toBeNull();
    expect(s.reserve(dir, 30 * MiB)).not.toBeNull();
    expect(s.reading(dir)).toMatchObject({
      freeBytes: 100 * MiB,
      reservedBytes: 90 * MiB,
      availableBytes: 0,
      minFreeBytes: 10 * MiB,
    });
  });

  it('reads the file system afresh for every grant: another process filling the disk is seen at once', () => {
    const s = space();
    expect(s.reserve(dir, 50 * MiB)).not.toBeNull();
    free = 55 * MiB;
    expect(s.reserve(dir, 1)).toBeNull();
  });

  it('grows as a writer streams, and refuses the chunk that would cross the watermark', () => {
    const s = space();
    const r = s.reserve(dir, 0);
    if (!r) {
      throw new Error('refused');
    }
    let written = 0;
    while (r.take(64 * 1024)) {
      written += 64 * 1024;
    }
    expect(written).toBeLessThanOrEqual(90 * MiB);
    expect(written).toBeGreaterThan(90 * MiB - 64 * 1024);
    expect(r.taken).toBe(written);
  });

  it('stops counting bytes that have landed on disk (statfs counts them), and gives back the rest on release', () => {
    const s = space();
    const r = s.reserve(dir, 20 * MiB);
    r?.landed(15 * MiB);
    free -= 15 * MiB; // what the kernel now reports
    expect(s.reading(dir).reservedBytes).toBe(5 * MiB);
    r?.release();
    r?.release();
    expect(s.reading(dir).reservedBytes).toBe(0);
    expect(s.reading(dir).availableBytes).toBe(75 * MiB);
  });

  it('keeps separate books per file system, and finds the file system of a directory that does not exist yet', () => {
    const s = space();
    expect(s.reserve(join(dir, 'not', 'yet', 'there'), 80 * MiB)).not.toBeNull();
    expect(s.reserve(dir, 20 * MiB)).toBeNull();
  });

  it('measures a real file system without the seam', () => {
    const s = createDiskSpace({ minFreeBytes: 0 });
    const r = s.reading(dir);
    expect(r.freeBytes).toBeGreaterThan(0);
    expect(r.totalBytes).toBeGreaterThanOrEqual(r.freeBytes);
    expect(s.reserve(dir, Number.MAX_SAFE_INTEGER)).toBeNull();
  });

  it('recognises a full disk from Node, from SQLite, and through a cause', () => {
    const err = (code: string): Error => Object.assign(new Error(code), { code });
    expect(isDiskFull(err('ENOSPC'))).toBe(true);
    expect(isDiskFull(err('EDQUOT'))).toBe(true);
    expect(isDiskFull(err('SQLITE_FULL'))).toBe(true);
    expect(isDiskFull(err('SQLITE_IOERR_SHMSIZE'))).toBe(true);
    expect(isDiskFull(new Error('wrapped', { cause: err('SQLITE_FULL') }))).toBe(true);
    expect(isDiskFull(err('EACCES'))).toBe(false);
    expect(isDiskFull('ENOSPC')).toBe(false);
  });
});
