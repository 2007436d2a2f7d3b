//! The readiness report the daemon supplies to the status server and metrics.

/** A point-in-time answer to "should senders be pointed at this gateway now?". */
export interface Readiness {
  receiverListening: boolean;
  dbWritable: boolean;
  /** Free bytes on the spool filesystem. */
  diskFreeBytes: number;
  /** The watermark below which ingest is refused (bytes). */
  diskMinFreeBytes: number;
  backlogOk: boolean;
  /** Human-readable, PHI-free reasons for not being ready; empty when ready. */
  reasons: string[];
}

/** Ready only when every check passes; a reason alone also counts as not ready. */
export function isReady(r: Readiness): boolean {
  return (
    r.receiverListening &&
    r.dbWritable &&
    r.backlogOk &&
    r.diskFreeBytes >= r.diskMinFreeBytes &&
    r.reasons.length === 0
  );
}
