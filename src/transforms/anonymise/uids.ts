//! The one UID function: every non-registered UID value, wherever it appears, maps through it.
// 2.25.<integer of a UUID> whose 128 bits come from HMAC-SHA256(project key, "uid", UID) with the
// RFC 9562 version-8 and variant bits set (reference/deid.md §5.2). Keyed, so no dictionary attack;
// tag-agnostic, so a reference (even RTSTRUCT's Study UID in a "Referenced SOP Instance UID")
// maps exactly like the value it refers to.
import { keywordOf } from '../../dicom/dictionary.ts';
import type { ProjectKey } from './keys.ts';

/** Strip what senders pad with; the normalised value is what we hash. */
export function normaliseUid(uid: string): string {
  return uid.replace(/[\0 ]+$/, '').replace(/^ +/, '');
}

export function keyedUid(key: ProjectKey, uid: string): string {
  const b = Buffer.from(key.derive('uid', normaliseUid(uid)).subarray(0, 16));
  b[6] = ((b[6] ?? 0) & 0x0f) | 0x80;
  b[8] = ((b[8] ?? 0) & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${b.toString('hex')}`).toString()}`;
}

/**
 * Registered UIDs are never changed: everything under the DICOM root (SOP classes, transfer
 * syntaxes, well-known frames of reference and instances, coding schemes, context groups,
 * templates). External coding-scheme OIDs appear only in definition attributes (below), which
 * are kept whatever their root, so no other root needs listing (an organisation's own root
 * under, say, the HL7 arc may well be used for instance UIDs).
 */
export function isRegisteredUid(uid: string): boolean {
  const u = normaliseUid(uid);
  return u.startsWith('1.2.840.10008.');
}

/**
 * UI attributes that name a definition (a class, syntax, coding scheme, template …), not an
 * instance: kept as they are even when the value is a private (vendor) UID.
 */
const DEFINITION_KEYWORD =
  /(ClassUID|ClassUIDs|ClassUIDInFile|SOPClassesInStudy|TransferSyntaxUID|TransferSyntaxUIDInFile|CodingSchemeUID|ContextUID|MappingResourceUID|CreatorUID|TemplateVersion|ImplementationClassUID)$/;

export function isDefinitionTag(tag: number): boolean {
  const k = keywordOf(tag);
  return k !== undefined && DEFINITION_KEYWORD.test(k);
}

/** Maps UIDs with one key and remembers original → replacement for the ledger and the verifier. */
export interface UidMapper {
  map(uid: string): string;
  /** Every pair produced so far. */
  readonly pairs: ReadonlyMap<string, string>;
  /** The replacement values produced so far (kept alongside, for verification lookups). */
  readonly produced: ReadonlySet<string>;
}

export function createUidMapper(key: ProjectKey): UidMapper {
  const pairs = new Map<string, string>();
  const produced = new Set<string>();
  return {
    map(uid) {
      const u = normaliseUid(uid);
      if (u === '' || isRegisteredUid(u)) {
        return u;
      }
      let out = pairs.get(u);
      if (out === undefined) {
        out = keyedUid(key, u);
        pairs.set(u, out);
        produced.add(out);
      }
      return out;
    },
    pairs,
    produced,
  };
}
