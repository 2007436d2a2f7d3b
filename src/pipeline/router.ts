//! The router: gives every completed series batch one project (the quarantine protocol), holds RT
//! objects until their images are routed, then fans the batch out to one delivery job per sink.
// Vector's `route` transform is the fan-out point of a topology; ours is too. It runs once per
// batch, before any job exists, because the project decides which sinks get the series (ADR 0009).
// A decision and its jobs are written in one transaction; a complete batch without a decision is
// the router's to-do list, so a crash between reading headers and committing just repeats the read.
import type { Clock } from '../clock.ts';
import { describeError } from '../errors.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { unitOfWork, type Db } from '../store/sqlite/db.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import type { JobStore } from '../store/jobs.ts';
import type { ReferencedSeries, RouteRecord, RouteStore, UnroutedSeries } from '../store/sqlite/routes.ts';
import type { SeriesSnapshot } from '../contracts/series.ts';
import type { RouteReason, SeriesDecision, Target } from '../contracts/routing.ts';

export interface RouterDeps {
  readonly db: Db;
  readonly routes: RouteStore;
  readonly jobs: JobStore;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  /** The route component: reads every instance header of a batch and applies the rules in force. */
  readonly decide: (series: SeriesSnapshot, signal: AbortSignal) => Promise<SeriesDecision>;
  /** Hash of the rules in force, recorded on fail-closed decisions. */
  readonly rulesHash: () => string;
  readonly loadSnapshot: (seriesId: number) => SeriesSnapshot;
  readonly projects: ProjectTargets;
  /** Sink ids a series for `project` is delivered to. */
  readonly sinksFor: (project: string) => readonly string[];
  readonly maxAttempts: number;
  /** How long an RT object waits for its referenced images, in ms. */
  readonly rtWaitMs: number;
  /** How often waiting RT deadlines are checked (and routing retried after an error), in ms. */
  readonly checkIntervalMs: number;
  /** Called after jobs were created (the worker's `notify`). */
  readonly onEnqueued?: () => void;
  /**
   * A project that replaces the hospital project for this series batch, or null: a pulled study
   * whose list row (or pull) names its XNAT project. Quarantine is never overridden.
   */
  readonly projectFor?: (seriesId: number) => string | null;
}

export interface ProjectTargets {
  readonly hospitalProject: string;
  readonly quarantineProject: string;
}

export interface Router {
  /** Routes every unrouted batch and settles waiting RT objects; resolves with decisions recorded. */
  tick(): Promise<number>;
  /** Route now (the assembler completed batches). */
  notify(): void;
  start(): void;
  /** Stops the timer, aborts header reads in progress and waits for the running tick. */
  stop(): Promise<void>;
}

/** Batches whose headers are read at once. */
const PARALLEL = 2;

export function projectOf(target: Target, p: ProjectTargets): string {
  return target === 'hospital' ? p.hospitalProject : p.quarantineProject;
}

/** A series-level reason the router adds (instances 0: it is about the batch, not its instances). */
function reason(rule: string, source: RouteReason['source'], message: string): RouteReason {
  return { rule, source, message, instances: 0 };
}

/**
 * The reasons after the router overrides the rules' target: when the target changes, the rules'
 * reasons for the old one (e.g. "No rule sent it to quarantine.") no longer explain anything.
 */
function withReason(reasons: readonly RouteReason[], from: Target, to: Target, extra: RouteReason): RouteReason[] {
  return from === to ? [...reasons, extra] : [extra];
}

/** A window as an operator reads it: 24 h, 90 min, 2 s. */
export function formatWindow(ms: number): string {
  if (ms >= 3_600_000) {
    return `${String(Math.round(ms / 360_000) / 10)} h`;
  }
  if (ms >= 60_000) {
    return `${String(Math.round(ms / 60_000))} min`;
  }
  return `${String(Math.round(ms / 1000))} s`;
}

export function createRouter(deps: RouterDeps): Router {
  const { routes, jobs, clock, events, log } = deps;
  let controller = new AbortController();
  let running: Promise<number> | null = null;
  let again = false;
  let timer: { cancel(): void } | null = null;
  let started = false;
  const audit = createAuditLog(deps.db);

  const projectFor = (seriesId: number, target: Target): string =>
    (target === 'hospital' ? deps.projectFor?.(seriesId) : null) ?? projectOf(target, deps.projects);

  /** Writes a final decision and its delivery jobs in one transaction, then reports it. */
  function routeNow(
    base: Omit<RouteRecord, 'state' | 'project' | 'routedAt' | 'groupSeriesId' | 'sessionStudyUid'>,
    group: ReferencedSeries | null,
  ): void {
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

  function hold(
    base: Omit<RouteRecord, 'state' | 'project' | 'routedAt' | 'groupSeriesId' | 'sessionStudyUid' | 'waitUntil'>,
  ): void {
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

  /** Records the decision for one batch: routed now, or held while an RT object waits. */
  function commit(s: UnroutedSeries, d: SeriesDecision): void {
    let target = d.target;
    let reasons = [...d.reasons];
    const previous = s.batch > 1 ? routes.previousBatch(s) : undefined;
    // A series is never split on purpose: a later batch follows an earlier quarantined one. The
    // reverse (earlier batch in the hospital, this one quarantined) is fail-closed and shows here.
    if (previous?.target === 'quarantine' && target === 'hospital') {
      reasons = withReason(
        reasons,
        target,
        'quarantine',
        reason(
          'router:earlier-batch',
          'router',
          `Earlier batch (series ${String(previous.seriesId)}) went to quarantine; this batch follows it.`,
        ),
      );
      target = 'quarantine';
    }
    const base = {
      seriesId: s.id,
      target,
      reasons,
      rulesHash: d.rulesHash,
      rt: d.rt,
      decidedAt: clock.now(),
      releasedAt: null,
      releasedBy: null,
    };
    if (!d.rt) {
      routeNow({ ...base, waitUntil: null }, null);
      return;
    }
    if (d.rt.seriesUids.length === 0 && d.rt.sopInstanceUids.length === 0) {
      routeNow(
        {
          ...base,
          target: 'quarantine',
          waitUntil: null,
          reasons: withReason(
            reasons,
            target,
            'quarantine',
            reason('rt:no-references', 'rt', `${d.rt.modality} references no images, so it cannot be filed with them.`),
          ),
        },
        null,
      );
      return;
    }
    hold(base);
  }

  /** Routes waiting RT objects whose images are routed, and quarantines those past their deadline. */
  function settleWaiting(): number {
    let settled = 0;
    // Repeat: an RTPLAN waits for its RTSTRUCT, which may have just been routed with its CT.
    for (let progress = true; progress;) {
      progress = false;
      for (const w of routes.waiting()) {
        if (!w.rt) {
          continue;
        }
        const res = routes.resolve(w.rt);
        const base = {
          seriesId: w.seriesId,
          target: w.target,
          reasons: w.reasons,
          rulesHash: w.rulesHash,
          rt: w.rt,
          waitUntil: w.waitUntil,
          decidedAt: w.decidedAt,
          releasedAt: w.releasedAt,
          releasedBy: w.releasedBy,
        };
        const group = res.routed[0];
        if (group && res.missingSeries.length === 0 && res.missingInstances === 0) {
          const quarantined = res.routed.find((r) => r.target === 'quarantine');
          const extra = quarantined
            ? reason(
                'rt:follows-images',
                'rt',
                `Its referenced series ${String(quarantined.seriesId)} went to quarantine; it goes with it.`,
              )
            : reason(
                'rt:images-routed',
                'rt',
                `Its referenced images (series ${res.routed.map((r) => String(r.seriesId)).join(', ')}) were routed; it joins their project and session after them.`,
              );
          const to: Target = quarantined ? 'quarantine' : w.target;
          routeNow({ ...base, target: to, reasons: withReason(w.reasons, w.target, to, extra) }, group);
        } else if (w.waitUntil !== null && clock.now() >= w.waitUntil) {
          const missing = `${String(res.missingSeries.length)} referenced series and ${String(res.missingInstances)} referenced instances never arrived`;
          const extra = reason(
            'rt:referenced-images-missing',
            'rt',
            `Referenced images missing after waiting ${formatWindow(deps.rtWaitMs)} (${missing}).`,
          );
          routeNow(
            { ...base, target: 'quarantine', reasons: withReason(w.reasons, w.target, 'quarantine', extra) },
            null,
          );
        } else {
          continue;
        }
        settled++;
        progress = true;
      }
    }
    return settled;
  }

  async function decideSafely(s: UnroutedSeries, signal: AbortSignal): Promise<SeriesDecision> {
    try {
      return await deps.decide(deps.loadSnapshot(s.id), signal);
    } catch (err) {
      if (signal.aborted) {
        throw err;
      }
      // Fail closed: a batch we cannot read is not sent to the hospital project.
      log.error({ err, seriesId: s.id }, 'Routing could not read the series; it goes to quarantine.');
      return {
        target: 'quarantine',
        project: deps.projects.quarantineProject,
        rulesHash: deps.rulesHash(),
        rt: null,
        reasons: [
          reason('router:error', 'router', `The series could not be read for routing (${describeError(err)}).`),
        ],
      };
    }
  }

  async function runTick(signal: AbortSignal): Promise<number> {
    let n = 0;
    for (;;) {
      const batch = routes.unrouted(PARALLEL);
      if (batch.length === 0 || signal.aborted) {
        break;
      }
      const decided = await Promise.all(batch.map((s) => decideSafely(s, signal)));
      // Stopping: decisions not yet committed are simply made again after the restart.
      signal.throwIfAborted();
      batch.forEach((s, i) => {
        const d = decided[i];
        if (d) {
          commit(s, d);
        }
      });
      n += batch.length + settleWaiting();
      deps.onEnqueued?.();
    }
    const settled = signal.aborted ? 0 : settleWaiting();
    if (settled) {
      deps.onEnqueued?.();
    }
    return n + settled;
  }

  function tick(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    const p = runTick(controller.signal).finally(() => {
      running = null;
      if (again && started) {
        again = false;
        void tickLogged();
      }
    });
    running = p;
    return p;
  }

  async function tickLogged(): Promise<void> {
    try {
      await tick();
    } catch (err) {
      if (!controller.signal.aborted) {
        log.error({ err }, 'Routing tick failed; it is retried on the next one.');
      }
    }
  }

  function schedule(): void {
    timer = clock.setTimeout(() => {
      timer = null;
      if (!started) {
        return;
      }
      schedule();
      void tickLogged();
    }, deps.checkIntervalMs);
  }

  return {
    tick,
    notify() {
      if (started) {
        void tickLogged();
      }
    },
    start() {
      if (started) {
        return;
      }
      started = true;
      controller = new AbortController();
      schedule();
      void tickLogged();
    },
    async stop() {
      started = false;
      timer?.cancel();
      timer = null;
      controller.abort();
      await running?.catch(() => undefined);
    },
  };
}
