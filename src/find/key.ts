//! Loads (or creates, 0600) the lookup key that find's digests are made with.
import { join } from 'node:path';
import { loadOrCreateSecret } from '../transforms/anonymise/keys.ts';
import { createFindHasher, LOOKUP_KEY_FILE, type FindHasher } from './digest.ts';

/**
 * The hasher for find, with the key in `keysDir` (created on first use like a project key). Back it
 * up with the database: a new key cannot match the digests the old one made.
 */
export async function loadFindHasher(keysDir: string): Promise<FindHasher> {
  const { secret } = await loadOrCreateSecret(keysDir, join(keysDir, LOOKUP_KEY_FILE), `The lookup key ${LOOKUP_KEY_FILE}`);
  return createFindHasher(secret);
}
