//! This gateway's node id: the name on its leases and associations, so recovery touches only its own.
// A configured `nodeId` wins; otherwise an id is generated once and kept next to the spool it
// belongs to (<dataDir>/node-id). The host name is not used: a container gets a new one on every
// start, and a restarted gateway must recognise the leases and associations of its previous run.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';

const VALID = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

export function nodeIdFor(configured: string | null, dataDir: string): string {
  if (configured !== null) {
    return configured;
  }
  const file = join(dataDir, 'node-id');
  let existing: string | null = null;
  try {
    existing = readFileSync(file, 'utf8').trim();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') {
      throw err;
    }
  }
  if (existing !== null) {
    if (!VALID.test(existing)) {
      throw new Error(`${file} does not hold a node id (letters, digits, ".", "_" or "-"); remove it or set nodeId.`);
    }
    return existing;
  }
  const id = `node-${randomBytes(6).toString('hex')}`;
  // Durable before anything is recorded under it: a crash must not leave rows of a forgotten node.
  const fd = openSync(file, 'wx', 0o640);
  try {
    writeSync(fd, `${id}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  const dir = openSync(dataDir, 'r');
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
  return id;
}
