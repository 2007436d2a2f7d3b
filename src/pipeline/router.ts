//! The router: gives every completed series batch one project (the quarantine protocol), holds RT
//! objects until their images are routed, then fans the batch out to one delivery job per sink.
// Vector's `route` transform is the fan-out point of a topology; ours is too. It runs once per
// batch, before any job exists, because the project decides which sinks get the series (ADR 0009).
// A decision and its jobs are written in one transaction; a complete batch without a decision is
// the router's to-do list, so a crash between reading headers and committing just repeats the read.
// The headers are read outside any transaction (slow file reads); what the decision also depends on
// in the database (an earlier batch's target, the waiting RT objects) is read in the unit of work
// that writes it.
// Writing a decision is route-writer.ts; RT objects waiting for their images are rt-wait.ts.
import { describeError } from '../errors.ts';
import type { UnroutedSeries } from '../store/routes.ts';
import type { SeriesSnapshot } from '../contracts/series.ts';
import type { SeriesDecision } from '../contracts/routing.ts';
import { reason, withReason } from './route-reasons.ts';
import { createRouteWriter, type RouteWrites, type WriterDeps } from './route-writer.ts';
import { settleWaiting } from './rt-wait.ts';

export interface RouterDeps extends WriterDeps {
  /** The route component: reads every instance header of a batch and applies the rules in force. */
  readonly decide: (series: SeriesSnapshot, signal: AbortSignal) => Promise<SeriesDecision>;
  /** Hash of the rules in force, recorded on fail-closed decisions. */
  readonly rulesHash: () => string;
  readonly loadSnapshot: (seriesId: number) => Promise<SeriesSnapshot>;
  /** How often waiting RT deadlines are checked (and routing retried after an error), in ms. */
  readonly checkIntervalMs: number;
  /** Called after jobs were created (the worker's `notify`). */
  readonly onEnqueued?: () => void;
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

export function createRouter(deps: RouterDeps): Router {
  const { routes, clock, log } = deps;
  let controller = new AbortController();
  let running: Promise<number> | null = null;
  let again = false;
  let timer: { cancel(): void } | null = null;
  let started = false;
  const { unit } = createRouteWriter(deps);
  // Most ticks find no RT object waiting; those take no unit of work (no write lock on the database).
  const settle = async (): Promise<number> =>
    (await routes.waiting()).length === 0 ? 0 : unit((w) => settleWaiting(routes, clock, deps.rtWaitMs, w.routeNow));

  /** Records the decision for one batch: routed now, or held while an RT object waits. */
  async function commit(w: RouteWrites, s: UnroutedSeries, d: SeriesDecision): Promise<void> {
    let target = d.target;
    let reasons = [...d.reasons];
    const previous = s.batch > 1 ? await routes.previousBatch(s) : undefined;
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
      await w.routeNow({ ...base, waitUntil: null }, null);
      return;
    }
    if (d.rt.seriesUids.length === 0 && d.rt.sopInstanceUids.length === 0) {
      await w.routeNow(
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
    await w.hold(base);
  }

  async function decideSafely(s: UnroutedSeries, signal: AbortSignal): Promise<SeriesDecision> {
    try {
      return await deps.decide(await deps.loadSnapshot(s.id), signal);
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
      const batch = await routes.unrouted(PARALLEL);
      if (batch.length === 0 || signal.aborted) {
        break;
      }
      const decided = await Promise.all(batch.map((s) => decideSafely(s, signal)));
      // Stopping: decisions not yet committed are simply made again after the restart.
      signal.throwIfAborted();
      for (const [i, s] of batch.entries()) {
        const d = decided[i];
        if (d) {
          await unit((w) => commit(w, s, d));
        }
      }
      n += batch.length + (await settle());
      deps.onEnqueued?.();
    }
    const settled = signal.aborted ? 0 : await settle();
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
