// The admin token file is a secret: its mode is checked every time it is read, not only at start-up.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { checkAdmin } from '../../../src/status/admin-auth.ts';

describe('checkAdmin', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-auth-'));
    file = join(dir, 'tokens');
    writeFileSync(file, 'alice:s3cret\n# a comment\nbare-token\n', { mode: 0o600 });
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('names who a valid token belongs to', () => {
    expect(checkAdmin(file, 'Bearer s3cret')).toEqual({ ok: true, who: 'alice' });
    expect(checkAdmin(file, 'Bearer bare-token')).toEqual({ ok: true, who: 'admin' });
    expect(checkAdmin(file, 'Bearer nope')).toMatchObject({ ok: false, status: 401 });
  });

  it('refuses every token (403) while the file is readable by group or others, and accepts again once it is 0600', () => {
    for (const mode of [0o640, 0o604, 0o644]) {
      chmodSync(file, mode);
      expect(checkAdmin(file, 'Bearer s3cret'), mode.toString(8)).toMatchObject({
        ok: false,
        status: 403,
        message: expect.stringContaining(`readable by others (mode ${mode.toString(8)})`) as unknown,
      });
    }
    chmodSync(file, 0o600);
    expect(checkAdmin(file, 'Bearer s3cret')).toEqual({ ok: true, who: 'alice' });
  });
});
