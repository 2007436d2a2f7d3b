// The thread-pool read wrapper: a recorded size saves the read that would only confirm the end of
// the file, and a wrong one changes nothing but the number of reads.
import fs from 'node:fs';
import { closeSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest';
import { fdReadFully } from '../../../src/dicom/fd-io.ts';

const dir = mkdtempSync(join(tmpdir(), 'xnatgw-fdio-'));
const bytes = Buffer.from(Array.from({ length: 1000 }, (_, i) => i % 251));
const file = join(dir, 'f.bin');
writeFileSync(file, bytes);
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** Reads the file into a 4 KiB buffer with `expected`; returns the bytes and the read calls made. */
async function readWith(expected: number | undefined): Promise<{ got: Buffer; reads: number }> {
  const spy = vi.spyOn(fs, 'read');
  syncBuiltinESMExports();
  const fd = openSync(file, 'r');
  try {
    const into = Buffer.alloc(4096);
    const n = await fdReadFully(fd, into, 0, expected);
    return { got: Buffer.from(into.subarray(0, n)), reads: spy.mock.calls.length };
  } finally {
    closeSync(fd);
  }
}

afterEach(() => {
  vi.restoreAllMocks();
  syncBuiltinESMExports();
});

describe('fdReadFully', () => {
  it('without a size, reads until a read returns nothing', async () => {
    const r = await readWith(undefined);
    expect(r.got.equals(bytes)).toBe(true);
    expect(r.reads).toBe(2);
  });

  it('with the right size, stops after the read that brings it', async () => {
    const r = await readWith(1000);
    expect(r.got.equals(bytes)).toBe(true);
    expect(r.reads).toBe(1);
  });

  it.each([[500], [999], [1001], [4096]])('with a wrong size (%i), still reads the whole file', async (expected) => {
    const r = await readWith(expected);
    expect(r.got.equals(bytes)).toBe(true);
    expect(r.reads).toBe(2);
  });
});
