import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { nodeIdFor } from '../../../src/app/node-id.ts';

describe('node id', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-nodeid-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('is generated once, kept in <dataDir>/node-id (not world-readable) and the same after a restart', () => {
    const first = nodeIdFor(null, dir);
    expect(first).toMatch(/^node-[0-9a-f]{12}$/);
    expect(readFileSync(join(dir, 'node-id'), 'utf8')).toBe(`${first}\n`);
    expect(statSync(join(dir, 'node-id')).mode & 0o007).toBe(0);
    expect(nodeIdFor(null, dir)).toBe(first);
    expect(nodeIdFor(null, mkdtempSync(join(dir, 'other-')))).not.toBe(first);
  });

  it('takes a configured id over the file, and refuses a file that holds no id', () => {
    expect(nodeIdFor('gw-ct-room', dir)).toBe('gw-ct-room');
    writeFileSync(join(dir, 'node-id'), '../../etc\n');
    expect(() => nodeIdFor(null, dir)).toThrow(/node-id does not hold a node id.*set nodeId/);
  });
});
