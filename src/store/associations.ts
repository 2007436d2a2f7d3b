//! The association store's contract: one row per association (DIMSE, STOW-RS request, folder drop, pull).
// SQLite implementation: sqlite/associations.ts.
import type { SourceId } from '../events.ts';

export interface AssociationStore {
  open(a: { source: SourceId; callingAe: string; calledAe: string; peerIp: string; at: number }): Promise<{
    id: number;
    uid: string;
  }>;
  /** Closes it; returns what it carried (null when it was not open). */
  close(
    uid: string,
    outcome: 'released' | 'aborted' | 'dropped',
    at: number,
  ): Promise<{ source: SourceId; openedAt: number; instances: number; bytes: number } | null>;
  idOf(uid: string): Promise<number | undefined>;
  /** Number of associations currently open (not closed). */
  openCount(): Promise<number>;
}
