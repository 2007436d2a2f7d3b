import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../../../src/config/load.ts';

/** The problems buildConfig reports for `raw` + `env` (none: an empty list). */
function problems(raw: unknown, env: NodeJS.ProcessEnv, dir: string): readonly string[] {
  try {
    buildConfig(raw, env, dir);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) {
      return err.problems;
    }
    throw err;
  }
}

describe('stow config', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-stow-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });
  const tokens = (text: string, mode: number): string => {
    const f = join(dir, 'stow-tokens');
    writeFileSync(f, text);
    chmodSync(f, mode);
    return f;
  };

  it('is off by default', () => {
    expect(buildConfig({}, {}, dir).stow).toMatchObject({ port: null, tokenFile: null, host: '0.0.0.0' });
  });

  it('takes the port and token file from the environment, resolving the file', () => {
    tokens('pacs:0123456789abcdef0123\n', 0o600);
    const cfg = buildConfig({}, { XNAT_GATEWAY_STOW_PORT: '8080', XNAT_GATEWAY_STOW_TOKEN_FILE: 'stow-tokens' }, dir);
    expect(cfg.stow.port).toBe(8080);
    expect(cfg.stow.tokenFile).toBe(join(dir, 'stow-tokens'));
  });

  it('refuses to start without a token file, naming the key', () => {
    expect(problems({ stow: { port: 8080 } }, {}, dir)).toEqual([
      expect.stringMatching(/^stow\.tokenFile: required when stow\.port is set/),
    ]);
  });

  it.each([
    ['missing', null, 0o600, /^stow\.tokenFile: cannot read .*stow-tokens \(ENOENT\)/],
    [
      'readable by the group',
      'pacs:0123456789abcdef0123\n',
      0o640,
      /^stow\.tokenFile: .* is readable by others \(mode 640\); chmod 600 it/,
    ],
    ['world-readable', 'pacs:0123456789abcdef0123\n', 0o604, /readable by others \(mode 604\)/],
    [
      'malformed',
      'just-a-token-without-a-name\n',
      0o600,
      /^stow\.tokenFile: .*stow-tokens line 1: expected name:token/,
    ],
  ])('refuses a token file that is %s, naming the key', (_what, text, mode, message) => {
    if (text !== null) {
      tokens(text, mode);
    }
    expect(problems({ stow: { port: 0, tokenFile: 'stow-tokens' } }, {}, dir)).toEqual([
      expect.stringMatching(message),
    ]);
  });

  it('refuses unknown keys and a request limit below 1 KiB', () => {
    tokens('pacs:0123456789abcdef0123\n', 0o600);
    const p = problems({ stow: { port: 0, tokenFile: 'stow-tokens', maxRequestBytes: 10, path: '/x' } }, {}, dir);
    expect(p.some((x) => x.startsWith('stow.maxRequestBytes'))).toBe(true);
    expect(p.some((x) => x.includes('path'))).toBe(true);
  });
});
