//! Writes the router's decisions: a batch routed (decision, delivery jobs and audit row in one transaction) or held.
// One transaction per decision, so a crash leaves either the decision with all its jobs or neither:
// a complete batch without a decision is the router's to-do list and is simply decided again.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { unitOfWork, type Db } from '../store/sqlite/db.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import type { JobStore } from '../store/jobs.ts';
import type { ReferencedSeries, RouteRecord, RouteStore } from '../store/sqlite/routes.ts';
import type { Target } from '../contracts/routing.ts';

/** What writing decisions needs (a part of RouterDeps). */
export interface WriterDeps {
  readonly db: Db;
  readonly routes: RouteStore;
  readonly jobs: JobStore;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  readonly projects: ProjectTargets;
  /** Sink ids a series for `project` is delivered to. */
  readonly sinksFor: (project: string) => readonly string[];
  readonly maxAttempts: number;
  /** How long an RT object waits for its referenced images, in ms. */
  readonly rtWaitMs: number;
  /**
   * A project that replaces the hospital project for this series batch, or null: a pulled study
   * whose list row (or pull) names its XNAT project. Quarantine is never overridden.
   */
  readonly projectFor?: (seriesId: number) => string | null;
}

/** The two projects the quarantine protocol chooses between. */
export interface ProjectTargets {
  readonly hospitalProject: string;
  readonly quarantineProject: string;
}

export function projectOf(target: Target, p: ProjectTargets): string {
  return target === 'hospital' ? p.hospitalProject : p.quarantineProject;
}

/** A decision as the router hands it over: the route record without what the writer fills in. */
export type Decided = Omit<RouteRecord, 'state' | 'project' | 'routedAt' | 'groupSeriesId' | 'sessionStudyUid'>;

export interface RouteWriter {
  /** Writes a final decision and its delivery jobs (after `group`'s, for an RT object), then reports it. */
  readonly routeNow: (base: Decided, group: ReferencedSeries | null) => void;
  /** Holds an RT object until its referenced images are routed, or `rtWaitMs` has passed. */
  readonly hold: (base: Omit<Decided, 'waitUntil'>) => void;
}

export function createRouteWriter(deps: WriterDeps): RouteWriter {
  const { routes, jobs, clock, events, log } = deps;
  const audit = createAuditLog(deps.db);
  const projectFor = (seriesId: number, target: Target): string =>
    (target === 'hospital' ? deps.projectFor?.(seriesId) : null) ?? projectOf(target, deps.projects);

  function routeNow(base: Decided, group: ReferencedSeries | null): void {
    const now = clock.now();
    const project = projectFor(base.seriesId, base.target);
    const record: RouteRecord = {
      ...base,
      state: 'routed',
      project,
      routedAt: now,
      waitUntil: null,
      groupSeriesId: group?.seriesId ?? null,
      sessionStudyUid: group ? (group.sessionStudyUid ?? group.studyUid) : null,
    };
    const rules = [...new Set(base.reasons.map((r) => r.rule))];
    unitOfWork(deps.db, () => {
      routes.put(record);
      const sinks = deps.sinksFor(project);
      jobs.enqueueDeliveries(base.seriesId, sinks, deps.maxAttempts, { afterSeriesId: group?.seriesId ?? null });
      audit.record(
        'series.routed',
        base.seriesId,
        {
          project,
          target: base.target,
          rules: rules.join(','),
          rulesHash: base.rulesHash,
          groupSeriesId: group?.seriesId ?? null,
          sinks: sinks.join(','),
        },
        now,
      );
    });
    events.emit('series.routed', {
      seriesId: base.seriesId,
      project,
      target: base.target,
      rules,
      rulesHash: base.rulesHash,
      groupSeriesId: group?.seriesId ?? null,
    });
    log.info(
      { seriesId: base.seriesId, project, target: base.target, rules, groupSeriesId: group?.seriesId ?? null },
      'Series routed.',
    );
  }

  function hold(base: Omit<Decided, 'waitUntil'>): void {
    const now = clock.now();
    const waitUntil = now + deps.rtWaitMs;
    unitOfWork(deps.db, () => {
      routes.put({
        ...base,
        state: 'waiting',
        project: projectFor(base.seriesId, base.target),
        waitUntil,
        routedAt: null,
        groupSeriesId: null,
        sessionStudyUid: null,
      });
      audit.record(
        'series.waiting',
        base.seriesId,
        {
          waitUntil,
          seriesRefs: base.rt?.seriesUids.length ?? 0,
          instanceRefs: base.rt?.sopInstanceUids.length ?? 0,
        },
        now,
      );
    });
    events.emit('series.waiting', { seriesId: base.seriesId, waitUntil });
    log.info({ seriesId: base.seriesId, waitUntil }, 'RT series waits for its referenced images.');
  }

  return { routeNow, hold };
}
