//! What the disk allows a durable receiver: new files of a set's size, each written, fsynced and closed, one at a time (or k at a time).
import { mkdir, open } from 'node:fs/promises';
import { rmSync } from 'node:fs';
import { join } from 'node:path';

export interface DiskRate {
  /** Files per second over the whole probe. */
  readonly filesPerSecond: number;
  /** Seconds per file (1 / filesPerSecond): what one instance's write + fsync costs a serial receiver. */
  readonly secondsPerFile: number;
}

/**
 * Writes `count` new files of `bytes` bytes under `dir` (removed afterwards), each opened, written
 * in one call, fsynced and closed, by `concurrency` writers at once. A receiver does at least this
 * per instance before it may acknowledge it, so it bounds a durable receiver on this disk.
 */
export async function writeFsyncRate(dir: string, count: number, bytes: number, concurrency = 1): Promise<DiskRate> {
  await mkdir(dir, { recursive: true });
  const buf = Buffer.alloc(bytes, 7);
  let next = 0;
  const t0 = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      for (let i = next++; i < count; i = next++) {
        const fh = await open(join(dir, `${String(i)}.bin`), 'w');
        await fh.write(buf);
        await fh.sync();
        await fh.close();
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return { filesPerSecond: count / seconds, secondsPerFile: seconds / count };
}
