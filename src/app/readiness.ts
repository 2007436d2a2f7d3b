//! The daemon's readiness: every source ready, the database writable, disk above the watermark, backlog within bounds.
import type { Source } from '../contracts/source.ts';
import type { AdmissionControl } from '../spool/admission.ts';
import type { Readiness } from '../status/readiness.ts';
import { isWritable, type Db } from '../store/sqlite/db.ts';

export interface ReadinessDeps {
  readonly admission: AdmissionControl;
  /** The running sources: any that is not ready (a DICOM listener down) makes the gateway not ready. */
  readonly sources: readonly Source[];
  readonly db: Db;
  /** spool.minFreeBytes and spool.maxPendingInstances. */
  readonly minFreeBytes: number;
  readonly maxPendingInstances: number;
}

/** Called per /readyz, /status and /metrics request: cached readings and a one-row read only. */
export function createReadiness(d: ReadinessDeps): () => Promise<Readiness> {
  return async () => {
    const r = await d.admission.readings();
    const check = await d.admission.check();
    const down = d.sources.map((s) => s.ready()).filter((s) => !s.ready);
    const writable = isWritable(d.db);
    const reasons: string[] = down.map((s) => s.reason ?? 'A source is not ready.');
    if (!writable) {
      reasons.push('Database is not writable.');
    }
    if (!check.ok) {
      reasons.push(check.message);
    }
    // Reservations of writes in progress count as used: the same figure admission decides on.
    return {
      receiverListening: down.length === 0,
      dbWritable: writable,
      diskFreeBytes: r.freeBytes - r.reservedBytes,
      diskMinFreeBytes: d.minFreeBytes,
      backlogOk: r.pendingInstances <= d.maxPendingInstances,
      reasons,
    };
  };
}
