//! The pull source: pulls from PACS by accession list as one component with the source lifecycle.
// Built by its registry entry (src/app/registry.ts) from its slice (`pull:` and the `pacs:` list)
// and the stores the composition root gives it. What it brings in reaches the gateway like any
// source's instances: a C-MOVE's through the DICOM receiver (the move destination, attributed to a
// row by StudyInstanceUID/SeriesInstanceUID), a C-GET's through the Intake given at start.
// Delivery jobs and XNAT say what was delivered and verified (`deliveries`).
import { describeError } from '../../errors.ts';
import type { ComponentContext } from '../../contracts/lifecycle.ts';
import type { Intake, Source, StudyLabels } from '../../contracts/source.ts';
import type { PullLedger, PullProgress } from '../../contracts/pull-ledger.ts';
import type { PacsConfig, PullConfig } from './config.ts';
import { createDeliveryTracker } from './delivery.ts';
import { createPullService, type PacsStatus, type PullService } from './engine.ts';
import { createGetStore, refusedStore, type GetStore } from './get-store.ts';
import type { Deliveries } from './ports.ts';

/** The pull source's config slice: how pulls are worked, the PACS nodes, and our AE title as their C-MOVE destination. */
export interface PullSlice {
  readonly pull: PullConfig;
  readonly pacs: readonly PacsConfig[];
  /** The DICOM receiver's AE title: where a C-MOVE sends the instances. */
  readonly destinationAe: string;
}

/** The stores and views the composition root gives the pull source. */
export interface PullDeps {
  readonly ledger: PullLedger;
  readonly progress: PullProgress;
  readonly deliveries: Deliveries;
  /** Whether delivered rows can become verified (an XNAT sink is configured). */
  readonly verifies: boolean;
  /** Completes the batches of series whose every expected instance arrived (the assembler's). */
  readonly completeSeries?: (studyInstanceUid: string, seriesInstanceUids: readonly string[]) => Promise<void>;
}

/** The last C-ECHO of a PACS. */
export interface EchoResult {
  readonly ok: boolean;
  readonly at: number;
  readonly durationMs: number;
  readonly error: string | null;
  readonly code: string | null;
}

/** A PACS as /status, /healthz/pacs and the console show it. */
export interface PacsView extends PacsStatus {
  readonly aeTitle: string;
  readonly host: string;
  readonly port: number;
  readonly retrieve: 'move' | 'get';
  /** Null until the first C-ECHO has answered. */
  readonly echo: EchoResult | null;
}

/** PACS reachability: ok when every PACS answered its last C-ECHO (one not asked yet counts as ok). */
export interface PacsHealth {
  readonly ok: boolean;
  readonly reasons: readonly string[];
}

export interface PullSource extends Source {
  readonly type: 'pull';
  readonly service: PullService;
  readonly ledger: PullLedger;
  readonly verifies: boolean;
  readonly studyLabels: StudyLabels;
  /** Every PACS with its throttle, circuit and last C-ECHO. */
  pacs(): readonly PacsView[];
  pacsHealth(): PacsHealth;
  /** C-ECHO every PACS now; resolves with the results by name. */
  echoAll(timeoutMs: number): Promise<ReadonlyMap<string, EchoResult>>;
}

export function create(slice: PullSlice, ctx: ComponentContext, deps: PullDeps): PullSource {
  const { clock, events, log } = ctx;
  const { ledger, progress, deliveries, verifies } = deps;
  const cfg = slice.pull;
  let get: GetStore | null = null;
  const echoes = new Map<string, EchoResult>();
  let tracker: ReturnType<typeof createDeliveryTracker> | null = null;
  // Row changes come in bursts (every arrival poll); the tracker looks once per burst.
  const dirty = new Set<number>();
  let flush: { cancel(): void } | null = null;
  const changed = (pullId: number): void => {
    dirty.add(pullId);
    flush ??= clock.setTimeout(() => {
      flush = null;
      const ids = [...dirty];
      dirty.clear();
      for (const id of ids) {
        void tracker?.pull(id);
      }
    }, 250);
  };
  const service = createPullService({
    ledger,
    pacs: slice.pacs,
    config: cfg,
    clock,
    log,
    target: {
      destinationAe: slice.destinationAe,
      // C-GET sub-operations go to the Intake, which the source has only once started.
      store: (meta) => (get ? get.store(meta) : refusedStore('The pull source is not running.')),
      arrivals: { received: (uid) => progress.received(uid) },
      ...(deps.completeSeries ? { arrived: deps.completeSeries } : {}),
    },
    onChange: changed,
    verifies,
  });
  tracker = createDeliveryTracker({
    ledger,
    deliveries,
    clock,
    log,
    verifyIntervalMs: cfg.verifyIntervalMs,
    reverifyIntervalMs: cfg.reverifyIntervalMs,
    retentionMs: cfg.phiRetentionMs,
    verifies,
  });
  const deliveryTracker = tracker;
  let unsubscribe: (() => void) | null = null;

  async function echoOne(name: string, timeoutMs: number): Promise<EchoResult> {
    const started = clock.now();
    let r: EchoResult;
    try {
      await service.echo(name, AbortSignal.timeout(timeoutMs));
      r = { ok: true, at: clock.now(), durationMs: clock.now() - started, error: null, code: null };
    } catch (err) {
      r = {
        ok: false,
        at: clock.now(),
        durationMs: clock.now() - started,
        error: describeError(err),
        code: (err as { code?: string }).code ?? null,
      };
    }
    const before = echoes.get(name);
    if (!r.ok && before?.ok !== false) {
      log.warn({ pacs: name, code: r.code, reason: r.error }, 'C-ECHO to a PACS failed.');
    } else if (r.ok && before?.ok === false) {
      log.info({ pacs: name }, 'C-ECHO to a PACS answers again.');
    }
    echoes.set(name, r);
    return r;
  }
  async function echoAll(timeoutMs: number): Promise<ReadonlyMap<string, EchoResult>> {
    const out = new Map<string, EchoResult>();
    for (const p of slice.pacs) {
      out.set(p.name, await echoOne(p.name, timeoutMs));
    }
    return out;
  }
  let echoTimer: { cancel(): void } | null = null;
  let running = false;
  const scheduleEcho = (): void => {
    if (!running) {
      return;
    }
    echoTimer = clock.setTimeout(() => {
      void echoAll(cfg.echoTimeoutMs).finally(scheduleEcho);
    }, cfg.echoIntervalMs);
  };
  const pacsHealth = (): PacsHealth => {
    const reasons = slice.pacs.flatMap((p) => {
      const e = echoes.get(p.name);
      return e && !e.ok ? [`PACS ${p.name} does not answer C-ECHO: ${e.error ?? 'unknown'}`] : [];
    });
    return { ok: reasons.length === 0, reasons };
  };
  const pacs = (): PacsView[] => {
    const byName = new Map(slice.pacs.map((p) => [p.name, p]));
    return service.status().flatMap((s) => {
      const p = byName.get(s.name);
      return p
        ? [
            {
              ...s,
              aeTitle: p.aeTitle,
              host: p.host,
              port: p.port,
              retrieve: p.retrieve,
              echo: echoes.get(p.name) ?? null,
            },
          ]
        : [];
    });
  };

  return {
    type: 'pull',
    id: 'pull',
    service,
    ledger,
    verifies,
    echoAll,
    pacs,
    pacsHealth,
    studyLabels: {
      projectFor: (seriesId) => progress.projectFor(seriesId),
      labelsFor: (project, studyUid) => progress.listLabels(project, studyUid),
    },
    async start(intake: Intake) {
      get = createGetStore(intake, clock, log);
      unsubscribe = events.on('job.succeeded', (e) => {
        void (async () => {
          const study = await progress.studyOf(e.seriesId);
          if (study) {
            await deliveryTracker.study(study);
          }
        })().catch((err: unknown) => {
          // The periodic pass finds the delivery all the same.
          log.error({ err, seriesId: e.seriesId }, 'Looking up the study of a delivered series failed.');
        });
      });
      running = true;
      await service.start();
      await deliveryTracker.start();
      // The first C-ECHO in the background: a PACS that does not answer must not hold up the start.
      void echoAll(cfg.echoTimeoutMs).finally(scheduleEcho);
      log.info({ pacs: slice.pacs.map((p) => p.name) }, 'Pulls from PACS started.');
    },
    async stop() {
      if (!running) {
        return;
      }
      running = false;
      echoTimer?.cancel();
      flush?.cancel();
      unsubscribe?.();
      unsubscribe = null;
      await service.stop();
      await deliveryTracker.stop();
      get?.close();
      get = null;
    },
    // A PACS that does not answer holds up pulls, not receiving: /readyz stays ready, /healthz/pacs says so.
    ready: () => ({ ready: true }),
    describe() {
      const health = pacsHealth();
      return {
        pacs: slice.pacs.length,
        pacsAnswering: slice.pacs.length - health.reasons.length,
        retrieve: [...new Set(slice.pacs.map((p) => p.retrieve))].join(','),
        destinationAe: slice.destinationAe,
        verifies,
      };
    },
  };
}
