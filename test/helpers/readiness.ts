//! Test helper: the readings of a gateway that is ready in every respect (listening, writable, space, backlog).
import type { Readiness } from '../../src/status/readiness.ts';

export function readyReadings(): Readiness {
  return {
    receiverListening: true,
    dbWritable: true,
    diskFreeBytes: 8e9,
    diskMinFreeBytes: 2e9,
    backlogOk: true,
    reasons: [],
  };
}

/** The readiness probe of such a gateway. */
export const alwaysReady = (): Promise<Readiness> => Promise.resolve(readyReadings());
