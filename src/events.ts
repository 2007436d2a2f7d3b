//! The typed event map: the whole observable vocabulary of the daemon.
// Components emit; the status server, metrics and logs subscribe. Payloads carry ids and
// bounded codes only — never patient identifiers.
import { EventEmitter } from 'node:events';
import type { ErrorCode, Stage } from './errors.ts';

export type SourceId = 'dimse' | 'folder' | 'stow';
export type SeriesState = 'receiving' | 'complete' | 'delivered' | 'failed';

export interface DaemonEventMap {
  'association.opened': { source: SourceId; associationUid: string; peerIp: string; callingAe: string; calledAe: string };
  'association.rejected': { peerIp: string; callingAe: string; calledAe: string; code: ErrorCode; reason: number };
  'association.closed': {
    source: SourceId; associationUid: string; instances: number; bytes: number; durationMs: number; outcome: 'released' | 'aborted' | 'dropped';
  };
  'instance.received': {
    source: SourceId; seriesId: number; instanceId: number; bytes: number; outcome: 'stored' | 'duplicate' | 'replaced';
  };
  'instance.failed': { source: SourceId; code: ErrorCode };
  'series.state': { seriesId: number; from: SeriesState | null; to: SeriesState; batch: number };
  /** A series was de-identified and verified; counts and ids only (the key id is not secret). */
  'series.anonymised': { seriesId: number; project: string; profile: string; edition: string; keyId: string; instances: number; uidsMapped: number; invalidDates: number; durationMs: number };
  /** The quarantine protocol chose a project; rule ids only (reasons with values are in /series/:id). */
  'series.routed': { seriesId: number; project: string; target: 'hospital' | 'quarantine'; rules: string[]; rulesHash: string; groupSeriesId: number | null };
  /** An RT object waits for its referenced images until `waitUntil` (epoch ms). */
  'series.waiting': { seriesId: number; waitUntil: number };
  /** An administrator released a quarantined series to the hospital project. */
  'series.released': { seriesId: number; project: string; by: string };
  /** An administrator discarded a series batch: its originals are deleted, its pending jobs cancelled. */
  'series.discarded': { seriesId: number; by: string };
  /** A sink's circuit breaker changed state (open: its target is failing; closed: it recovered). */
  'sink.circuit': { sink: string; state: 'closed' | 'open' | 'half-open'; code: string | null; error: string | null };
  'job.succeeded': { jobId: number; seriesId: number; sink: string; attempt: number; durationMs: number };
  /** `error` is the job's PHI-free last_error text. */
  'job.retrying': { jobId: number; seriesId: number; sink: string; attempt: number; code: ErrorCode; stage: Stage; runAt: number; error?: string };
  'job.failed': { jobId: number; seriesId: number; sink: string; attempt: number; code: ErrorCode; stage: Stage; error?: string };
}

export type DaemonEventName = keyof DaemonEventMap;

/** A thin typed facade over EventEmitter; listener errors are the listener's problem. */
export interface DaemonEvents {
  emit<K extends DaemonEventName>(name: K, payload: DaemonEventMap[K]): void;
  on<K extends DaemonEventName>(name: K, fn: (payload: DaemonEventMap[K]) => void): () => void;
}

export function createEvents(): DaemonEvents {
  const ee = new EventEmitter();
  ee.setMaxListeners(50);
  return {
    emit(name, payload) {
      ee.emit(name, payload);
    },
    on(name, fn) {
      ee.on(name, fn as (p: unknown) => void);
      return () => ee.off(name, fn as (p: unknown) => void);
    },
  };
}
