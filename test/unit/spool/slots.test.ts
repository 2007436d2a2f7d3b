// The slot pool hands out empty, already-durable files and refills itself in batches.
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSlotPool, SLOTS_DIR } from '../../../src/spool/slots.ts';

const dirs: string[] = [];
const spoolDir = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'xg-slots-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) {
    rmSync(d, { recursive: true, force: true });
  }
});

describe('slot pool', () => {
  it('creates a batch of empty owner-only files under spool/objects when primed', async () => {
    const dir = spoolDir();
    const pool = createSlotPool(dir, { batch: 8 });
    await pool.prime();
    expect(pool.ready).toBe(8);
    const subs = readdirSync(join(dir, SLOTS_DIR));
    expect(subs).toHaveLength(1);
    const files = readdirSync(join(dir, SLOTS_DIR, subs[0] ?? ''));
    expect(files).toHaveLength(8);
    for (const f of files) {
      const st = statSync(join(dir, SLOTS_DIR, subs[0] ?? '', f));
      expect(st.size).toBe(0);
      expect(st.mode & 0o007).toBe(0);
    }
  });

  it('returns null from takeSync when empty and refills in the background', async () => {
    const pool = createSlotPool(spoolDir(), { batch: 4, low: 2 });
    expect(pool.takeSync()).toBeNull();
    const slot = await pool.take();
    expect(slot.rel.startsWith(`${SLOTS_DIR}/`)).toBe(true);
    expect(statSync(slot.abs).size).toBe(0);
    const taken = new Set([slot.abs]);
    for (let i = 0; i < 10; i++) {
      taken.add((await pool.take()).abs);
    }
    expect(taken.size).toBe(11); // never the same slot twice
  });

  it('adopts empty slots found at start-up before creating new ones', async () => {
    const dir = spoolDir();
    const first = createSlotPool(dir, { batch: 4 });
    await first.prime();
    const leftovers = [await first.take(), await first.take()];
    const second = createSlotPool(dir, { batch: 4 });
    second.adopt(leftovers);
    expect(second.ready).toBe(2);
    expect(second.takeSync()?.abs).toBe(leftovers[1]?.abs);
  });
});
