//! The find index's contract: keyed digests of PatientID and AccessionNumber per series batch.
// SQLite implementation: sqlite/find-index.ts.

export type LookupKind = 'patient' | 'accession';

/** One identifier of an instance, as its keyed digest (32 bytes). */
export interface LookupDigest {
  readonly kind: LookupKind;
  readonly digest: Buffer;
}

export interface FindIndex {
  /** Series batch ids holding any of `digests` for `kind`, newest first, at most `limit`. */
  match(kind: LookupKind, digests: readonly Buffer[], limit: number): Promise<number[]>;
}
