//! Writes the router's decisions: a batch routed (decision, delivery jobs and audit row in one transaction) or held.
// One transaction per decision, so a crash leaves either the decision with all its jobs or neither:
// a complete batch without a decision is the router's to-do list and is simply decided again.
// The caller reads what it decides on in the same unit of work (`unit`), so no release or discard
// lands between the read and the write; what was written is announced only once it is committed.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import type { JobStore } from '../store/jobs.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import type { ReferencedSeries, RouteRecord, RouteStore } from '../store/routes.ts';
import type { Target } from '../contracts/routing.ts';

/** What writing decisions needs (a part of RouterDeps). */
export interface WriterDeps {
  readonly db: Db;
  /** Commits a decision with its jobs and audit row, and with the reads it was made on. */
  readonly uow: UnitOfWork;
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
  readonly projectFor?: (seriesId: number) => Promise<string | null>;
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

/** The writes of one unit of work (RouteWriter.unit). */
export interface RouteWrites {
  /** Writes a final decision and its delivery jobs (after `group`'s, for an RT object). */
  readonly routeNow: (base: Decided, group: ReferencedSeries | null) => Promise<void>;
  /** Holds an RT object until its referenced images are routed, or `rtWaitMs` has passed. */
  readonly hold: (base: Omit<Decided, 'waitUntil'>) => Promise<void>;
}

export interface RouteWriter {
  /**
   * Runs `fn` in one unit of work with the writes it makes; what they routed or held is reported
   * (events, log) after the COMMIT, and never when it rolls back. Not for use inside another unit
   * of work: its reports would go out before that one commits.
   */
  readonly unit: <T>(fn: (w: RouteWrites) => Promise<T>) => Promise<T>;
}

export function createRouteWriter(deps: WriterDeps): RouteWriter {
  const { routes, jobs, clock, events, log } = deps;
  const audit = createAuditLog(deps.db);
  const projectFor = async (seriesId: number, target: Target): Promise<string> =>
    (target === 'hospital' && deps.projectFor ? await deps.projectFor(seriesId) : null) ??
    projectOf(target, deps.projects);

  async function routeNow(base: Decided, group: ReferencedSeries | null, reports: (() => void)[]): Promise<void> {
    const now = clock.now();
    const project = await projectFor(base.seriesId, base.target);
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
    await routes.put(record);
    const sinks = deps.sinksFor(project);
    await jobs.enqueueDeliveries(base.seriesId, sinks, deps.maxAttempts, { afterSeriesId: group?.seriesId ?? null });
    await audit.record(
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
    reports.push(() => {
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
    });
  }

  async function hold(base: Omit<Decided, 'waitUntil'>, reports: (() => void)[]): Promise<void> {
    const now = clock.now();
    const waitUntil = now + deps.rtWaitMs;
    await routes.put({
      ...base,
      state: 'waiting',
      project: await projectFor(base.seriesId, base.target),
      waitUntil,
      routedAt: null,
      groupSeriesId: null,
      sessionStudyUid: null,
    });
    await audit.record(
      'series.waiting',
      base.seriesId,
      {
        waitUntil,
        seriesRefs: base.rt?.seriesUids.length ?? 0,
        instanceRefs: base.rt?.sopInstanceUids.length ?? 0,
      },
      now,
    );
    reports.push(() => {
      events.emit('series.waiting', { seriesId: base.seriesId, waitUntil });
      log.info({ seriesId: base.seriesId, waitUntil }, 'RT series waits for its referenced images.');
    });
  }

  async function unit<T>(fn: (w: RouteWrites) => Promise<T>): Promise<T> {
    const reports: (() => void)[] = [];
    const result = await deps.uow.run(() =>
      fn({ routeNow: (base, group) => routeNow(base, group, reports), hold: (base) => hold(base, reports) }),
    );
    for (const report of reports) {
      report();
    }
    return result;
  }

  return { unit };
}
