//! Keyed digests for find: HMAC-SHA256 of PatientID and AccessionNumber under the lookup key.
// The gateway never stores or shows these identifiers; it keeps their digests per series batch and
// an administrator's query is hashed the same way. The key is the gateway's own (not a project's
// anonymisation key), so the digests cannot be linked to pseudonymised output, and without it they
// cannot be tested against a list of candidate IDs.
import { createHmac, createSecretKey, type KeyObject } from 'node:crypto';
import type { LookupDigest, LookupKind } from '../store/find-index.ts';

/** The key file's name inside the keys directory (beside the projects' `<project>.key` files). */
export const LOOKUP_KEY_FILE = 'find-lookup.secret';

export interface FindHasher {
  /** Digests of the identifiers one instance carries; absent or empty values give none. */
  ofInstance(ids: {
    readonly PatientID?: string | undefined;
    readonly AccessionNumber?: string | undefined;
  }): LookupDigest[];
  /**
   * Digests an administrator's query may match. Ingest hashes the stored bytes; a typed query is
   * tried as UTF-8 (ASCII and ISO_IR 192 files) and, when every character fits, as Latin-1 (ISO_IR 100).
   */
  ofQuery(kind: LookupKind, text: string): Buffer[];
}

export function createFindHasher(secret: Buffer): FindHasher {
  if (secret.length !== 32) {
    throw new Error('The lookup key must be 32 bytes.');
  }
  const key: KeyObject = createSecretKey(secret);
  // The kind is part of the input: an accession number never matches a patient ID of the same text.
  const digest = (kind: LookupKind, bytes: Buffer): Buffer =>
    createHmac('sha256', key).update(kind).update('\0').update(bytes).digest();
  return {
    ofInstance(ids) {
      const out: LookupDigest[] = [];
      // The header reader decodes values as Latin-1 (one character per byte): back to the file's bytes.
      const add = (kind: LookupKind, v: string | undefined): void => {
        const t = v?.trim();
        if (t) {
          out.push({ kind, digest: digest(kind, Buffer.from(t, 'latin1')) });
        }
      };
      add('patient', ids.PatientID);
      add('accession', ids.AccessionNumber);
      return out;
    },
    ofQuery(kind, text) {
      const t = text.trim();
      if (!t) {
        return [];
      }
      const utf8 = Buffer.from(t, 'utf8');
      const out = [digest(kind, utf8)];
      // eslint-disable-next-line no-control-regex -- the test is "every character is one Latin-1 byte"
      if (/^[\u0000-\u00ff]*$/.test(t) && !Buffer.from(t, 'latin1').equals(utf8)) {
        out.push(digest(kind, Buffer.from(t, 'latin1')));
      }
      return out;
    },
  };
}
