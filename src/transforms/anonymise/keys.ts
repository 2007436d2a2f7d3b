//! Per-project 256-bit keys: generated on first use, kept in a 0600 file outside the spool, never logged.
// Every keyed derivation (UIDs, date offsets) goes through `derive`, with a domain label in front
// of the input, so a value derived for one purpose can never be replayed as another.
import { createHmac, createSecretKey, randomBytes } from 'node:crypto';
import { chmod, mkdir, open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface ProjectKey {
  readonly project: string;
  /** Non-secret fingerprint of the key (HMAC of "key-id"), recorded in the audit and the output. */
  readonly keyId: string;
  /** HMAC-SHA256(key, domain ‖ 0x00 ‖ parts joined by 0x00). */
  derive(domain: string, ...parts: readonly string[]): Buffer;
}

export function projectKey(project: string, secret: Buffer): ProjectKey {
  if (secret.length !== 32) {
    throw new Error('A project key must be 32 bytes.');
  }
  // One KeyObject: createHmac with a raw buffer would import the key again for every UID.
  const keyObject = createSecretKey(secret);
  const derive = (domain: string, ...parts: readonly string[]): Buffer => {
    const h = createHmac('sha256', keyObject);
    h.update(domain);
    for (const p of parts) {
      h.update('\0');
      h.update(p, 'latin1');
    }
    return h.digest();
  };
  return { project, keyId: derive('key-id').subarray(0, 8).toString('hex'), derive };
}

/** Project names become file names: only what XNAT allows in a project id. */
function keyFile(dir: string, project: string): string {
  if (!/^[A-Za-z0-9_-]{1,64}$/.test(project)) {
    throw new Error('Project ids may only hold letters, digits, "_" and "-".');
  }
  return join(dir, `${project}.key`);
}

/**
 * The key of `project` from `dir`, created (O_EXCL, 0600, fsynced) when missing. Two processes
 * starting together both end up with the one key that won the exclusive create.
 */
export async function loadOrCreateKey(dir: string, project: string): Promise<{ key: ProjectKey; created: boolean }> {
  const { secret, created } = await loadOrCreateSecret(dir, keyFile(dir, project), `Key file of project ${project}`);
  return { key: projectKey(project, secret), created };
}

/**
 * A 256-bit secret kept as 64 hex digits in `file` (inside `dir`, which is made 0700), created
 * (O_EXCL, 0600, fsynced with its directory) when missing. Also holds the find lookup key.
 * `what` names the file in the error for a damaged one.
 */
export async function loadOrCreateSecret(
  dir: string,
  file: string,
  what: string,
): Promise<{ secret: Buffer; created: boolean }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  let created = false;
  try {
    const fh = await open(file, 'wx', 0o600);
    try {
      await fh.writeFile(`${randomBytes(32).toString('hex')}\n`);
      await fh.sync();
      created = true;
    } finally {
      await fh.close();
    }
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw err;
    }
  }
  const text = (await readFile(file, 'latin1')).trim();
  if (!/^[0-9a-f]{64}$/.test(text)) {
    throw new Error(`${what} is not 64 hex digits; restore it from backup.`);
  }
  return { secret: Buffer.from(text, 'hex'), created };
}
