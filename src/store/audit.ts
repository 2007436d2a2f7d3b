//! The audit log's contract: one append-only row per event worth keeping (no patient data).
// SQLite implementation: sqlite/audit.ts.

export interface AuditLog {
  /** `detail` holds ids, counts and codes only, never patient identifiers. */
  record(
    kind: string,
    seriesId: number | null,
    detail: Readonly<Record<string, string | number | boolean | null>>,
    at: number,
  ): Promise<void>;
  /** The newest row of `kind` for series `seriesId` (its detail as stored, JSON), or undefined. */
  latest(kind: string, seriesId: number): Promise<{ at: number; detail: string } | undefined>;
}
