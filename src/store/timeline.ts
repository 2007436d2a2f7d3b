//! One series batch's timeline as /series/:id shows it: associations, jobs, attempts and audit events.
// SQLite implementation: sqlite/timeline.ts.
import type { SourceId } from '../events.ts';
import type { JobState } from './jobs.ts';
import type { SeriesSummary } from './series-summary.ts';

export const EVENT_LIMIT = 500;

export interface TimelineAssociation {
  uid: string;
  source: SourceId;
  callingAe: string;
  calledAe: string;
  peerIp: string;
  openedAt: number;
  closedAt: number | null;
  outcome: string | null;
  /** Instances it sent to this batch. */ instances: number;
}
export interface TimelineAttempt {
  attempt: number;
  startedAt: number;
  finishedAt: number | null;
  outcome: string | null;
  code: string | null;
  error: string | null;
}
export interface TimelineJob {
  id: number;
  sink: string;
  state: JobState;
  attemptCount: number;
  maxAttempts: number;
  runAt: number;
  createdAt: number;
  updatedAt: number;
  lastCode: string | null;
  lastStage: string | null;
  lastError: string | null;
  receipt: string | null;
  attempts: TimelineAttempt[];
  /** The sink's DeliveryDetail (XNAT status, counts, message), parsed; null when none. */
  detail: Record<string, unknown> | null;
}
export type EventDetail = Record<string, string | number | boolean | null>;
export interface TimelineEvent {
  id: number;
  at: number;
  kind: string;
  instanceId: number | null;
  associationId: number | null;
  detail: EventDetail;
}
export interface SeriesTimeline extends SeriesSummary {
  associations: TimelineAssociation[];
  jobs: TimelineJob[];
  events: TimelineEvent[];
  /** True when only the newest `EVENT_LIMIT` audit events are returned. */
  eventsTruncated: boolean;
}
