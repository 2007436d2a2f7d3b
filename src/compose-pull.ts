//! Pulls from PACS as one component of the daemon: the pull service, its ledger, what it reads of the gateway, C-ECHO health.
// The one place the pull domain (src/sources/pull) meets the rest: arrivals are read from the
// spool's tables (a C-MOVE's instances come in through the DICOM receiver, which is the move
// destination, and are attributed to a row by StudyInstanceUID/SeriesInstanceUID), C-GET
// sub-operations go to the Intake like any source's instances, and delivery jobs plus XNAT say
// what was delivered and verified. The returned component has the lifecycle every component of
// the daemon is to share (start, stop, ready, describe), so it drops into a registry as is.
import type { Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import type { IncomingStore, StoreMeta } from './dicom/qr/association.ts';
import { describeError } from './errors.ts';
import type { DaemonEvents } from './events.ts';
import type { Logger } from './log.ts';
import type { Intake, PseudonymLedger } from './pipeline/contracts.ts';
import type { Db } from './queue/db.ts';
import { createPullProgress } from './queue/pull-progress.ts';
import { sinkIds } from './compose-sinks.ts';
import { createDeliveryTracker } from './sources/pull/delivery.ts';
import { createPullService, type PacsStatus, type PullService } from './sources/pull/engine.ts';
import { createSqlitePullLedger } from './sources/pull/ledger-sqlite.ts';
import type { PullLedger } from './sources/pull/ledger.ts';
import type { Deliveries } from './sources/pull/ports.ts';
import { createXnatClient } from './xnat/client.ts';
import { createVerifier } from './xnat/verify.ts';

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

/** The lifecycle contract of a daemon component. */
export interface PullComponent {
  readonly id: 'pull';
  readonly service: PullService;
  readonly ledger: PullLedger;
  /** Whether delivered rows can become verified (an XNAT sink is configured). */
  readonly verifies: boolean;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** Ok when every PACS answered its last C-ECHO (a PACS not asked yet counts as ok); the reasons otherwise. */
  ready(): { readonly ok: boolean; readonly reasons: readonly string[] };
  describe(): { readonly pacs: readonly PacsView[] };
  /** The XNAT project the pull list names for this spool series' study, or null (the router's override). */
  projectFor(seriesId: number): string | null;
  /**
   * The pseudonym ledger as the anonymise transform should see it: a study whose pull row gives a
   * Session label gets that label when its session is first assigned (a study already filed keeps
   * its session; a label taken by another study gets `_2`, … as any first label does).
   */
  withListLabels(ledger: PseudonymLedger): PseudonymLedger;
  /** C-ECHO every PACS now (check-config, tests); resolves with the results by name. */
  echoAll(timeoutMs: number): Promise<ReadonlyMap<string, EchoResult>>;
}

export interface PullComposeDeps {
  readonly clock: Clock;
  readonly log: Logger;
  readonly events: DaemonEvents;
  readonly intake: Intake;
  /** Something about a pull changed (the console or a waiting CLI looks again). */
  readonly onChange?: (pullId: number) => void;
}

const XNAT_SINK_TYPES = new Set(['xnat-rest', 'xnat-dimse']);
/** An open C-GET intake association is closed after this long without an instance, so its series can complete. */
const GET_ASSOCIATION_IDLE_MS = 2000;

/** C-GET sub-operations into the intake: one intake association per PACS, open while instances keep coming. */
function createGetStore(intake: Intake, clock: Clock, log: Logger): { store: (meta: StoreMeta) => IncomingStore; close(): void } {
  const open = new Map<string, { uid: string; timer: { cancel(): void } | null; busy: number }>();
  const closeOne = (key: string): void => {
    const a = open.get(key);
    if (!a || a.busy > 0) {return;}
    open.delete(key);
    a.timer?.cancel();
    intake.closeAssociation(a.uid, 'released');
  };
  return {
    store(meta) {
      const key = `${meta.callingAe}|${meta.peerIp}`;
      const admission = intake.admission();
      if (!admission.ok) {
        return { write: () => true, drained: () => Promise.resolve(), finish: () => Promise.resolve({ ok: false, retryable: true, message: admission.message }), abort: () => Promise.resolve() };
      }
      let a = open.get(key);
      if (!a) {
        a = { uid: intake.openAssociation({ source: 'dimse', callingAe: meta.callingAe, calledAe: meta.calledAe, peerIp: meta.peerIp }), timer: null, busy: 0 };
        open.set(key, a);
      }
      const assoc = a;
      assoc.timer?.cancel();
      assoc.busy++;
      const done = (): void => {
        assoc.busy--;
        assoc.timer?.cancel();
        assoc.timer = clock.setTimeout(() => { closeOne(key); }, GET_ASSOCIATION_IDLE_MS);
      };
      const inst = intake.begin({ source: 'dimse', sopClassUid: meta.sopClassUid, sopInstanceUid: meta.sopInstanceUid, transferSyntaxUid: meta.transferSyntaxUid, callingAe: meta.callingAe, calledAe: meta.calledAe, peerIp: meta.peerIp, associationUid: assoc.uid });
      let settled = false;
      return {
        write: (chunk) => inst.write(chunk),
        drained: () => inst.drained(),
        async finish() {
          try {
            const r = await inst.finish();
            if (!r.ok) {log.warn({ code: r.code }, 'An instance retrieved by C-GET was refused.');}
            return r.ok ? { ok: true } : { ok: false, retryable: r.retryable, message: r.message };
          } finally {
            if (!settled) { settled = true; done(); }
          }
        },
        async abort() {
          await inst.abort();
          if (!settled) { settled = true; done(); }
        },
      };
    },
    close() {
      for (const [key, a] of open) {
        a.busy = 0;
        closeOne(key);
      }
    },
  };
}

/** Reads delivery from the jobs and asks XNAT (over the first xnat-rest sink's account) again. */
function createDeliveries(cfg: Config, db: Db, log: Logger): { deliveries: Deliveries; verifies: boolean; progress: ReturnType<typeof createPullProgress> } {
  const ids = sinkIds(cfg);
  const xnatIds = ids.filter((_, i) => XNAT_SINK_TYPES.has(cfg.sinks[i]?.type ?? ''));
  const progress = createPullProgress(db, xnatIds);
  const rest = cfg.sinks.find((s) => s.type === 'xnat-rest');
  const verify = rest ? createVerifier(createXnatClient(rest, log.child({ component: 'xnat-client' }))) : null;
  const deliveries: Deliveries = {
    ofSeries: (study, series) => Promise.resolve(progress.delivery(study, series)),
    async recheck(s, signal) {
      const as = progress.deliveredAs(s.studyInstanceUid, s.seriesInstanceUid);
      if (!verify || !as) {return null;}
      const labels = { project: as.project, subject: as.subject, session: as.session };
      const v = await verify({ labels, studyInstanceUid: as.studyInstanceUid, seriesInstanceUid: as.seriesInstanceUid, instances: s.delivered, scanId: s.seriesNumber }, signal);
      return { found: v.ok === 'pending' ? null : v.found, session: as.session, uri: v.uri };
    },
  };
  return { deliveries, verifies: xnatIds.length > 0, progress };
}

/** Null when no PACS is configured: nothing to pull from, no component. */
export function composePull(cfg: Config, db: Db, d: PullComposeDeps): PullComponent | null {
  if (cfg.pacs.length === 0) {return null;}
  const { clock, events } = d;
  const log = d.log.child({ component: 'source:pull' });
  const ledger = createSqlitePullLedger(db);
  const { deliveries, verifies, progress } = createDeliveries(cfg, db, log);
  const get = createGetStore(d.intake, clock, log);
  const echoes = new Map<string, EchoResult>();
  let tracker: ReturnType<typeof createDeliveryTracker> | null = null;
  // Row changes come in bursts (every arrival poll); the tracker looks once per burst.
  const dirty = new Set<number>();
  let flush: { cancel(): void } | null = null;
  const changed = (pullId: number): void => {
    d.onChange?.(pullId);
    dirty.add(pullId);
    flush ??= clock.setTimeout(() => {
      flush = null;
      const ids = [...dirty];
      dirty.clear();
      for (const id of ids) {void tracker?.pull(id);}
    }, 250);
  };
  const service = createPullService({
    ledger, pacs: cfg.pacs, config: cfg.pull, clock, log,
    target: { destinationAe: cfg.dimse.aeTitle, store: get.store, arrivals: { received: (uid) => Promise.resolve(progress.received(uid)) } },
    onChange: changed, verifies,
  });
  tracker = createDeliveryTracker({
    ledger, deliveries, clock, log, verifyIntervalMs: cfg.pull.verifyIntervalMs, reverifyIntervalMs: cfg.pull.reverifyIntervalMs, retentionMs: cfg.pull.phiRetentionMs, verifies,
    onChange: (id) => { d.onChange?.(id); },
  });
  const onJob = events.on('job.succeeded', (e) => {
    const study = progress.studyOf(e.seriesId);
    if (study) {void tracker.study(study);}
  });

  async function echoOne(name: string, timeoutMs: number): Promise<EchoResult> {
    const started = clock.now();
    let r: EchoResult;
    try {
      await service.echo(name, AbortSignal.timeout(timeoutMs));
      r = { ok: true, at: clock.now(), durationMs: clock.now() - started, error: null, code: null };
    } catch (err) {
      r = { ok: false, at: clock.now(), durationMs: clock.now() - started, error: describeError(err), code: (err as { code?: string }).code ?? null };
    }
    const before = echoes.get(name);
    if (!r.ok && before?.ok !== false) {log.warn({ pacs: name, code: r.code, reason: r.error }, 'C-ECHO to a PACS failed.');}
    else if (r.ok && before?.ok === false) {log.info({ pacs: name }, 'C-ECHO to a PACS answers again.');}
    echoes.set(name, r);
    return r;
  }
  async function echoAll(timeoutMs: number): Promise<ReadonlyMap<string, EchoResult>> {
    const out = new Map<string, EchoResult>();
    for (const p of cfg.pacs) {out.set(p.name, await echoOne(p.name, timeoutMs));}
    return out;
  }
  let echoTimer: { cancel(): void } | null = null;
  let stopped = false;
  const scheduleEcho = (): void => {
    if (stopped) {return;}
    echoTimer = clock.setTimeout(() => { void echoAll(cfg.pull.echoTimeoutMs).finally(scheduleEcho); }, cfg.pull.echoIntervalMs);
  };

  return {
    id: 'pull', service, ledger, verifies, echoAll,
    projectFor: (seriesId) => progress.projectFor(seriesId),
    withListLabels: (l) => ({
      ...l,
      session: (q) => {
        const label = l.studySession(q.project, q.studyUid) ? null : progress.sessionFor(q.studyUid);
        return l.session(label === null ? q : { ...q, firstLabel: label });
      },
    }),
    async start() {
      await service.start();
      await tracker.start();
      // The first C-ECHO in the background: a PACS that does not answer must not hold up the start.
      void echoAll(cfg.pull.echoTimeoutMs).finally(scheduleEcho);
      log.info({ pacs: cfg.pacs.map((p) => p.name) }, 'Pulls from PACS started.');
    },
    async stop() {
      stopped = true;
      echoTimer?.cancel();
      flush?.cancel();
      onJob();
      await service.stop();
      await tracker.stop();
      get.close();
    },
    ready() {
      const reasons = cfg.pacs.flatMap((p) => {
        const e = echoes.get(p.name);
        return e && !e.ok ? [`PACS ${p.name} does not answer C-ECHO: ${e.error ?? 'unknown'}`] : [];
      });
      return { ok: reasons.length === 0, reasons };
    },
    describe() {
      const byName = new Map(cfg.pacs.map((p) => [p.name, p]));
      return {
        pacs: service.status().flatMap((s) => {
          const p = byName.get(s.name);
          return p ? [{ ...s, aeTitle: p.aeTitle, host: p.host, port: p.port, retrieve: p.retrieve, echo: echoes.get(p.name) ?? null }] : [];
        }),
      };
    },
  };
}
