//! Loads (or creates, 0600) the lookup key that find's digests are made with.
import { join } from 'node:path';
import { DaemonError, ErrorCode } from '../errors.ts';
import { loadOrCreateSecret } from '../transforms/anonymise/keys.ts';
import { createFindHasher, LOOKUP_KEY_FILE, type FindHasher } from './digest.ts';

/**
 * The hasher for find, with the key in `keysDir` (created on first use like a project key). Back it
 * up with the database: a new key cannot match the digests the old one made.
 */
export async function loadFindHasher(keysDir: string): Promise<FindHasher> {
  const file = join(keysDir, LOOKUP_KEY_FILE);
  try {
    const { secret } = await loadOrCreateSecret(keysDir, file, `The lookup key ${file}`);
    return createFindHasher(secret);
  } catch (err) {
    throw new DaemonError(
      ErrorCode.LOOKUP_KEY,
      `The find lookup key ${file} cannot be read or created: ${err instanceof Error ? err.message : String(err)}`,
      { stage: 'starting', retryable: false, cause: err },
    );
  }
}
