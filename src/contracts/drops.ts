//! The import-folder source's drop ledger: which files of a drop are already handed off survives a crash.

/** What became of one file of an import-folder drop. */
export type DropFileOutcome = 'stored' | 'duplicate' | 'replaced' | 'rejected' | 'ignored';

export interface DropFileRecord {
  /** Path inside the drop, '/'-separated (for a .zip entry: `archive.zip/inner/path`). */
  readonly rel: string;
  readonly size: number;
  readonly mtimeMs: number;
  readonly outcome: DropFileOutcome;
  readonly instanceId?: number | null;
  readonly code?: string | null;
  readonly reason?: string | null;
}

/** vanished: the drop disappeared from the import folder before it was read whole. */
export type DropState = 'reading' | 'releasing' | 'released' | 'vanished';

export interface DropRecord {
  readonly id: number;
  readonly root: string;
  readonly name: string;
  readonly kind: 'folder' | 'file';
  readonly state: DropState;
  readonly filesTotal: number;
  readonly filesSpooled: number;
  readonly filesRejected: number;
  readonly filesIgnored: number;
  readonly startedAt: number;
  readonly releasedAt: number | null;
  readonly disposition: string | null;
  readonly rejectedTo: string | null;
  readonly associationUid: string | null;
}

/**
 * The folder source's durable progress ledger (a drop is "acknowledged" by releasing its files,
 * so which files are already handed off must survive a crash). Implemented over SQLite.
 */
export interface DropLedger {
  /** The unreleased drop of that name under `root`, or a new one. */
  begin(d: {
    root: string;
    name: string;
    kind: 'folder' | 'file';
    at: number;
  }): Promise<{ drop: DropRecord; resumed: boolean }>;
  /** Files of this drop already handled, by relative path. */
  handled(dropId: number): Promise<Map<string, DropFileRecord>>;
  /** Records handled files (one transaction) and refreshes the drop's counters. */
  record(dropId: number, files: readonly DropFileRecord[], at: number): Promise<void>;
  setTotal(dropId: number, filesTotal: number): Promise<void>;
  /** Every file is handed off; records where the drop and its rejected files are going (kept for retries). */
  markReleasing(dropId: number, plan: { disposition: string; rejectedTo: string | null }): Promise<void>;
  markReleased(dropId: number, at: number): Promise<void>;
  /** The association this drop's instances are recorded under, if it is still open. */
  openAssociation(dropId: number): Promise<string | null>;
  setAssociation(dropId: number, associationUid: string): Promise<void>;
  /** Drops under `root` not released yet ('reading' or 'releasing'), e.g. left by the previous process. */
  unreleased(root: string): Promise<DropRecord[]>;
  /** The drop left the import folder before it was read whole (someone moved it away). */
  markVanished(dropId: number, at: number): Promise<void>;
  get(dropId: number): Promise<DropRecord | undefined>;
  /** The newest drop of that name under `root`, whatever its state. */
  latest(root: string, name: string): Promise<DropRecord | undefined>;
  /** Most recent drops first. */
  recent(limit: number): Promise<DropRecord[]>;
}
