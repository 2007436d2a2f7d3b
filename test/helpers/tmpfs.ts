//! A small tmpfs mounted by a test (a disk that really fills up), and a sampler of its free space.
// Mounting needs root: CI runs as root; elsewhere the tests that need it skip (describeWithTmpfs).
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, closeSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'vitest';
import { isCi } from './peers.ts';

const isRoot = process.getuid?.() === 0;

/** `describe` for tests on a real small file system: skipped without root, failing under CI without it. */
export function describeWithTmpfs(name: string, fn: () => void): void {
  if (!isRoot && isCi) {
    describe(name, () => {
      it('runs as root (it mounts a tmpfs)', () => {
        throw new Error('These tests mount a tmpfs and need root; CI runs as root.');
      });
    });
    return;
  }
  describe.skipIf(!isRoot)(name, fn);
}

export interface Tmpfs {
  readonly dir: string;
  /** Free bytes now (statfs, as the gateway sees them). */
  free(): number;
  /** Changes the size (remount): "the disk was grown" or "space came back". */
  resize(bytes: number): void;
  /** Writes a file of zeros until the disk is full (ENOSPC) and returns its path. */
  fill(name?: string): string;
  /** Unmounts and removes the mount point. */
  remove(): void;
}

export function mountTmpfs(bytes: number, prefix = 'xg-tmpfs-'): Tmpfs {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${String(bytes)},mode=0755`, 'tmpfs', dir]);
  return {
    dir,
    free() {
      const s = statfsSync(dir);
      return s.bavail * s.bsize;
    },
    resize(size) {
      execFileSync('mount', ['-o', `remount,size=${String(size)}`, dir]);
    },
    fill(name = 'filler') {
      const path = join(dir, name);
      const fd = openSync(path, 'a');
      const block = Buffer.alloc(64 * 1024);
      try {
        for (;;) {
          try {
            writeSync(fd, block);
          } catch (err) {
            if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') {
              throw err;
            }
            // The last partial block: fill to the byte.
            for (let n = block.length / 2; n >= 1; n = Math.floor(n / 2)) {
              for (;;) {
                try {
                  writeSync(fd, block, 0, n);
                } catch {
                  break;
                }
              }
            }
            return path;
          }
        }
      } finally {
        closeSync(fd);
      }
    },
    remove() {
      try {
        execFileSync('umount', ['-l', dir]);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** Samples `free()` every few milliseconds; `min` is the lowest reading since start. */
export function sampleFree(free: () => number, everyMs = 5): { readonly min: number; stop(): number } {
  let min = Infinity;
  const take = (): void => {
    min = Math.min(min, free());
  };
  take();
  const t = setInterval(take, everyMs);
  return {
    get min() {
      return min;
    },
    stop() {
      clearInterval(t);
      take();
      return min;
    },
  };
}
