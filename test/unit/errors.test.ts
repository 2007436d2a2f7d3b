import { readdirSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { DaemonError, describeError, ErrorCode } from '../../src/errors.ts';

const DOC_PATH = new URL('../../docs/errors.md', import.meta.url);
const doc = readFileSync(DOC_PATH, 'utf8');
// Components bring their own codes in their folder (src/<kind>/<type>/errors.ts): found here, so a
// new component's codes are checked against docs/errors.md without a list to keep.
const SRC = new URL('../../src/', import.meta.url);
const componentModules = await Promise.all(
  readdirSync(SRC, { recursive: true, encoding: 'utf8' })
    .filter((f) => f.endsWith('/errors.ts'))
    .map((f) => import(new URL(f, SRC).href) as Promise<Record<string, unknown>>),
);
const componentCodes = componentModules.flatMap((m) =>
  Object.entries(m).flatMap(([name, table]) =>
    name.endsWith('ErrorCode') ? Object.entries(table as Record<string, string>) : [],
  ),
);
const codes = [...Object.values(ErrorCode), ...componentCodes.map(([, code]) => code)];

/** `## ERR_…` headings of docs/errors.md, in order, with the text up to the next heading. */
function sections(): Map<string, string> {
  const out = new Map<string, string>();
  const parts = doc.split(/^## /m).slice(1);
  for (const p of parts) {
    const [heading = '', ...body] = p.split('\n');
    out.set(heading.trim(), body.join('\n'));
  }
  return out;
}

describe('error codes and docs/errors.md', () => {
  it('documents every registry code under its own heading', () => {
    const documented = [...sections().keys()];
    const missing = codes.filter((c) => !documented.includes(c));
    expect(missing, `Add a "## <code>" section to docs/errors.md for: ${missing.join(', ')}`).toEqual([]);
  });

  it('documents no code that the registry does not have', () => {
    const extra = [...sections().keys()].filter((h) => !(codes as readonly string[]).includes(h));
    expect(
      extra,
      `docs/errors.md has headings for unknown codes (remove them or add them to src/errors.ts): ${extra.join(', ')}`,
    ).toEqual([]);
  });

  it('documents each code once', () => {
    const headings = doc.match(/^## .*$/gm) ?? [];
    expect(headings.length).toBe(new Set(headings).size);
  });

  it('says for each code what it means, where it is seen and what to do', () => {
    for (const [code, body] of sections()) {
      for (const part of ['**Meaning.**', '**Seen as.**', '**Action.**']) {
        expect(body, `${code} lacks ${part}`).toContain(part);
      }
    }
  });

  it('keeps codes unique and spelled ERR_ plus the key', () => {
    expect(new Set(codes).size).toBe(codes.length);
    for (const [key, code] of [...Object.entries(ErrorCode), ...componentCodes]) {
      expect(code).toBe(`ERR_${key}`);
    }
    // The STOW-RS source's codes are found in its folder.
    expect(componentCodes.map(([, c]) => c)).toContain('ERR_STOW_PART_INVALID');
  });

  it('links only to anchors that exist', () => {
    const anchors = new Set([...sections().keys()].map((h) => `#${h.toLowerCase()}`));
    const links = [...doc.matchAll(/\]\((#[^)]+)\)/g)].map((m) => m[1]);
    for (const l of links) {
      expect(anchors, `broken link ${String(l)}`).toContain(l);
    }
  });
});

describe('DaemonError', () => {
  it('carries its code, stage, retryability and cause', () => {
    const cause = new Error('disk');
    const err = new DaemonError(ErrorCode.SPOOL_WRITE, 'Write failed.', { stage: 'receiving', retryable: true, cause });
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({
      name: 'DaemonError',
      code: 'ERR_SPOOL_WRITE',
      stage: 'receiving',
      retryable: true,
      message: 'Write failed.',
    });
    expect(err.cause).toBe(cause);
  });

  it('is described with its code first', () => {
    const err = new DaemonError(ErrorCode.SINK_WRITE, 'No access.', { stage: 'sending', retryable: true });
    expect(describeError(err)).toBe('ERR_SINK_WRITE: No access.');
    expect(describeError(new TypeError('bad'))).toBe('TypeError: bad');
    expect(describeError('plain')).toBe('plain');
  });
});
