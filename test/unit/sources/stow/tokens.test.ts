import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  createTokenStore,
  parseTokenFile,
  readTokenFile,
  TokenFileError,
} from '../../../../src/sources/stow/tokens.ts';

const A = 'aaaaaaaaaaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbbbbbbbbbb';

describe('STOW-RS tokens', () => {
  let dir: string;
  let file: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-stow-tokens-'));
    file = join(dir, 'tokens');
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const write = (text: string, mode = 0o600): void => {
    writeFileSync(file, text);
    chmodSync(file, mode);
  };

  it('parses name:token lines, skipping comments and blank lines', () => {
    expect(parseTokenFile(`# senders\n\npacs:${A}\r\n  ai-tool : ${B}  \n`, 'f').map((e) => e.name)).toEqual([
      'pacs',
      'ai-tool',
    ]);
  });

  it.each([
    ['a bare token', `${A}\n`, /line 1: expected name:token/],
    ['a short token', 'pacs:short\n', /line 1: the token must be at least 16/],
    ['a token with a space', `pacs:${A} x\n`, /at least 16 characters without spaces/],
    ['a bad name', `pa cs:${A}\n`, /line 1: the name must be/],
    ['a repeated name', `pacs:${A}\npacs:${B}\n`, /line 2: the name pacs is used twice/],
    ['a repeated token', `pacs:${A}\nvna:${A}\n`, /line 2: this token is already given/],
    ['no tokens', '# nothing\n', /holds no name:token line/],
  ])('refuses %s, naming the line', (_what, text, message) => {
    expect(() => parseTokenFile(text, 'f')).toThrow(message);
  });

  it('refuses a file readable by group or others, and a missing one', () => {
    write(`pacs:${A}\n`, 0o640);
    expect(() => readTokenFile(file)).toThrow(/readable by others \(mode 640\); chmod 600/);
    write(`pacs:${A}\n`, 0o400);
    expect(readTokenFile(file)).toHaveLength(1);
    expect(() => readTokenFile(join(dir, 'missing'))).toThrow(TokenFileError);
  });

  it('answers 401 without bearer credentials, 403 for a wrong token, the name for a right one', () => {
    write(`pacs:${A}\nvna:${B}\n`);
    const store = createTokenStore(file, () => undefined);
    expect(store.check(undefined)).toMatchObject({ ok: false, status: 401 });
    expect(store.check(`Basic ${A}`)).toMatchObject({ ok: false, status: 401 });
    expect(store.check('Bearer ')).toMatchObject({ ok: false, status: 401 });
    expect(store.check(`Bearer ${A}x`)).toMatchObject({ ok: false, status: 403 });
    expect(store.check(`bearer ${B}`)).toEqual({ ok: true, name: 'vna' });
    expect(store.check(`Bearer ${A}`)).toEqual({ ok: true, name: 'pacs' });
  });

  it('picks up an edited file without a restart, and refuses everyone (503) while it is broken', () => {
    write(`pacs:${A}\n`);
    const errors: string[] = [];
    const store = createTokenStore(file, (e) => errors.push(e.message));
    expect(store.check(`Bearer ${A}`)).toMatchObject({ ok: true });
    write(`vna:${B}\n# pacs revoked\n`);
    expect(store.check(`Bearer ${A}`)).toMatchObject({ ok: false, status: 403 });
    expect(store.check(`Bearer ${B}`)).toEqual({ ok: true, name: 'vna' });
    chmodSync(file, 0o644);
    const broken = store.check(`Bearer ${B}`);
    expect(broken).toMatchObject({ ok: false, status: 503 });
    // The client learns nothing about the file; the log has the detail.
    expect(JSON.stringify(broken)).not.toContain(file);
    expect(errors[0]).toMatch(/readable by others/);
    chmodSync(file, 0o600);
    expect(store.check(`Bearer ${B}`)).toEqual({ ok: true, name: 'vna' });
  });
});
