//! A pool of pre-created, already-durable empty spool files ("slots").
// Making a new file durable needs an fsync of its directory. Doing that per instance puts a
// third serial fsync on every acknowledgement (file, directory, SQLite WAL). Slots are created in
// batches — one directory fsync per batch — so receiving an instance costs only the fsync of its
// own data and the WAL commit. A slot is used in place: its path is what the instance row records.
import { randomBytes } from 'node:crypto';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { ensureDirDurable, fsyncDir } from '../durable-fs.ts';

/** A durable, empty file ready to receive one instance. */
export interface Slot {
  /** Relative to the spool directory, as stored in `instances.path`. */
  readonly rel: string;
  readonly abs: string;
}

export interface SlotPool {
  /** A ready slot, or null when the pool is empty (then use `take`). Triggers a refill when low. */
  takeSync(): Slot | null;
  take(): Promise<Slot>;
  /** Fills the pool up to its low-water mark; call before accepting data. */
  prime(): Promise<void>;
  /** Adds empty slots found at start-up (their directory entries are already durable). */
  adopt(slots: readonly Slot[]): void;
  readonly ready: number;
}

export const SLOTS_DIR = 'objects';

export function createSlotPool(
  spoolDir: string,
  o: { batch?: number; low?: number; onError?: (err: unknown) => void } = {},
): SlotPool {
  const batch = o.batch ?? 64;
  const low = o.low ?? Math.ceil(batch / 2);
  const ready: Slot[] = [];
  let refilling: Promise<void> | null = null;

  async function createBatch(): Promise<void> {
    // Spread batches over 256 directories so no directory grows without bound.
    const sub = join(SLOTS_DIR, randomBytes(1).toString('hex'));
    const dir = join(spoolDir, sub);
    await ensureDirDurable(dir);
    const made: Slot[] = [];
    for (let i = 0; i < batch; i++) {
      const name = `${randomBytes(12).toString('hex')}.dcm`;
      const fh = await open(join(dir, name), 'wx', 0o640);
      await fh.close();
      made.push({ rel: join(sub, name), abs: join(dir, name) });
    }
    await fsyncDir(dir);
    ready.push(...made);
  }

  function refill(): Promise<void> {
    refilling ??= createBatch().finally(() => (refilling = null));
    return refilling;
  }

  function maybeRefill(): void {
    if (ready.length < low && !refilling) {
      refill().catch((err: unknown) => o.onError?.(err));
    }
  }

  return {
    takeSync() {
      const slot = ready.pop() ?? null;
      maybeRefill();
      return slot;
    },
    async take() {
      for (;;) {
        const slot = ready.pop();
        if (slot) {
          maybeRefill();
          return slot;
        }
        await refill();
      }
    },
    async prime() {
      if (ready.length < low) {
        await refill();
      }
    },
    adopt(slots) {
      ready.push(...slots);
    },
    get ready() {
      return ready.length;
    },
  };
}
