//! The pull service: takes lists, and works their rows against each PACS within its schedule, limits and circuit breaker.
// One runner per PACS loops over the rows that are due (ledger), starting a query or a retrieve
// task for each as long as the throttle grants an association (and, for a retrieve, a study slot)
// and the breaker is closed. Every outcome is written to the ledger before anything else happens,
// so a restart resumes from there (rows left `retrieving` are queued again by `recover`; a study
// whose instances all arrived is then found complete without being fetched again).
// Failures are sorted by whose they are: the PACS's (unreachable, out of resources) open its
// circuit and cost the row no attempt; the study's cost an attempt, with capped exponential
// backoff; a configuration problem every row would hit (our AE title refused, move destination
// unknown) pauses the PACS's pulls with the reason instead of failing all their rows.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import { createQrClient, type QrClient } from '../../dicom/qr/client.ts';
import { QrError } from '../../dicom/qr/failure.ts';
import { classifyQrStatus } from '../../dicom/qr/status.ts';
import { DaemonError, ErrorCode, describeError } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { backoffMs } from '../../resilience/backoff.ts';
import { createBreakers, type CircuitStatus } from '../../resilience/breaker.ts';
import type { PacsConfig, PullConfig } from './config.ts';
import type { PullLedger, PullRecord, PullRow, RetrieveOutcome, SeriesRecord } from '../../contracts/pull-ledger.ts';
import { ListError, readList } from './list.ts';
import type { RetrieveTarget } from './ports.ts';
import { queryRow } from './query.ts';
import { reportCsv } from './report.ts';
import { retrieveStudy } from './retrieve.ts';
import { parseRows } from './rows.ts';
import { createSchedule } from './schedule.ts';
import { createThrottle, type AssociationPermit, type StudyPermit, type ThrottleStatus } from './throttle.ts';

export interface PullServiceDeps {
  readonly ledger: PullLedger;
  readonly pacs: readonly PacsConfig[];
  readonly config: PullConfig;
  readonly target: RetrieveTarget;
  readonly clock: Clock;
  readonly log: Logger;
  /** The Q/R client of a PACS (default: createQrClient); tests count or fake associations here. */
  readonly client?: (p: PacsConfig) => QrClient;
  readonly random?: () => number;
  /** False when no sink delivers to XNAT: a pull ends once its rows are delivered (default true: verified). */
  readonly verifies?: boolean;
  /** Something about the pull changed (the console refreshes; phase 2 emits an event). */
  readonly onChange?: (pullId: number) => void;
}

export interface PacsStatus {
  readonly name: string;
  readonly running: number;
  readonly throttle: ThrottleStatus;
  readonly circuit: CircuitStatus | null;
}

export interface PullService {
  /** Queues rows left running by a previous process, purges expired patient data, starts the runners. */
  start(): Promise<void>;
  /** Cancels running operations (C-CANCEL; rows wait again without losing an attempt) and stops. */
  stop(): Promise<void>;
  /** Reads and records a list; throws DaemonError ERR_PULL_LIST / ERR_PULL_PACS_UNKNOWN for a list or PACS that cannot be used. */
  submit(file: Buffer, o: { pacs: string; project?: string | null; fileName?: string | null }): Promise<PullRecord>;
  pause(pullId: number, reason?: string): Promise<void>;
  resume(pullId: number): Promise<void>;
  cancel(pullId: number): Promise<void>;
  /** Picks a candidate of an ambiguous row, or (null) tries a not-found or failed row again. */
  choose(rowId: number, studyInstanceUid: string | null): Promise<void>;
  report(pullId: number, o: { identifiers: boolean }): Promise<string>;
  /** C-ECHO to a PACS (check-config, healthcheck). */
  echo(pacs: string, signal: AbortSignal): Promise<void>;
  status(): PacsStatus[];
}

interface Task {
  readonly pullId: number;
  readonly pacs: string;
  readonly ctrl: AbortController;
  done: Promise<void>;
}

/** Runs on the clock so that fake-clock tests drive it: resolves at `at`, or earlier when woken. */
interface Sleeper {
  sleep(at: number | null): Promise<void>;
  wake(): void;
}

function createSleeper(clock: Clock): Sleeper {
  let wakeUp: (() => void) | null = null;
  let woken = false;
  return {
    sleep(at) {
      if (woken) {
        woken = false;
        return Promise.resolve();
      }
      return new Promise((resolve) => {
        const t =
          at === null
            ? null
            : clock.setTimeout(
                () => {
                  finish();
                },
                Math.max(0, at - clock.now()),
              );
        const finish = (): void => {
          t?.cancel();
          wakeUp = null;
          resolve();
        };
        wakeUp = finish;
      });
    },
    wake() {
      if (wakeUp) {
        wakeUp();
      } else {
        woken = true;
      }
    },
  };
}

const PURGE_EVERY_MS = 3_600_000;

export function createPullService(d: PullServiceDeps): PullService {
  const { ledger, clock, log, config } = d;
  const breakers = createBreakers(
    d.pacs.map((p) => p.name),
    config.breaker,
    clock,
    (s) => {
      if (s.state === 'open') {
        log.warn({ pacs: s.sink, code: s.lastCode, reason: s.lastError }, 'PACS circuit opened: its rows wait.');
      } else if (s.state === 'closed') {
        log.info({ pacs: s.sink }, 'PACS reachable again: circuit closed.');
      }
    },
  );
  const random = d.random ?? Math.random;
  const tasks = new Map<number, Task>();
  let stopping = false;
  const isStopping = (): boolean => stopping;
  let started = false;
  let purgeTimer: { cancel(): void } | null = null;

  const changed = (pullId: number): void => {
    d.onChange?.(pullId);
  };
  const backoff = (attempt: number): number =>
    backoffMs(attempt, { baseMs: config.backoffBaseMs, maxMs: config.backoffMaxMs }, random);

  async function maybeEnd(pullId: number): Promise<void> {
    if (
      await ledger.endIfSettled(pullId, {
        at: clock.now(),
        retentionMs: config.phiRetentionMs,
        verifies: d.verifies !== false,
      })
    ) {
      const p = await ledger.getPull(pullId);
      log.info({ pull: p?.uid, counts: p?.counts }, 'Pull ended.');
    }
    changed(pullId);
  }

  function createRunner(p: PacsConfig): {
    readonly p: PacsConfig;
    readonly sleeper: Sleeper;
    readonly throttle: ReturnType<typeof createThrottle>;
    readonly client: QrClient;
    loop(): Promise<void>;
  } {
    const throttle = createThrottle(createSchedule(p.schedule), clock);
    const client = d.client
      ? d.client(p)
      : createQrClient({
          host: p.host,
          port: p.port,
          calledAe: p.aeTitle,
          callingAe: p.callingAe,
          maxPduLength: p.maxPduLength,
          connectTimeoutMs: p.connectTimeoutMs,
          responseTimeoutMs: p.responseTimeoutMs,
          retrieveIdleTimeoutMs: p.retrieveIdleTimeoutMs,
          cancelTimeoutMs: p.cancelTimeoutMs,
        });
    const sleeper = createSleeper(clock);
    const plog = log.child({ pacs: p.name });

    /** Pauses every active pull of this PACS: a problem of configuration that every row would meet. */
    async function pauseAll(reason: string): Promise<void> {
      for (const pull of await ledger.pulls()) {
        if (pull.pacs === p.name && pull.state === 'active') {
          await ledger.setPullState(pull.id, 'paused', reason, clock.now());
          plog.error({ pull: pull.uid, reason }, 'Pull paused: the PACS refuses us; fix the configuration and resume.');
          changed(pull.id);
        }
      }
    }

    /** A failure of a step that threw: whose it is decides the row's next move. */
    async function failed(
      row: PullRow,
      step: 'query' | 'retrieve',
      err: unknown,
      ctrl: AbortController,
    ): Promise<void> {
      const now = clock.now();
      if (ctrl.signal.aborted) {
        await ledger.requeue(row.id, now);
        return;
      }
      let code: ErrorCode = ErrorCode.PACS_UNAVAILABLE;
      let pacsFault = false;
      let reason: string;
      if (err instanceof QrError) {
        const where = `${p.aeTitle}@${p.host}:${String(p.port)}`;
        reason = `${step === 'query' ? 'C-FIND' : p.retrieve === 'move' ? 'C-MOVE' : 'C-GET'} to ${where}: ${err.message}`;
        if ((err.kind === 'rejected' && err.reject?.result === 1) || err.kind === 'context') {
          breakers.failed(p.name, { code: ErrorCode.PACS_REFUSED, error: reason });
          await ledger.requeue(row.id, now);
          await pauseAll(`${ErrorCode.PACS_REFUSED}: ${reason}`);
          return;
        }
        if (err.kind === 'status') {
          pacsFault = classifyQrStatus(err.status ?? 0) === 'transient';
          code = pacsFault ? ErrorCode.PACS_UNAVAILABLE : ErrorCode.PACS_REFUSED;
        } else {
          // Unreachable, timed out, aborted, closed: the PACS, not the study. A protocol error may be the study's data.
          pacsFault = err.kind !== 'protocol';
        }
      } else {
        code = ErrorCode.JOB_UNEXPECTED;
        reason = describeError(err);
        plog.error({ err, line: row.line }, 'Unexpected failure in a pull step.');
      }
      if (pacsFault) {
        breakers.failed(p.name, { code, error: reason });
      }
      const attempts = row.attempts + (pacsFault ? 0 : 1);
      const next = (pacsFault ? breakers.retryAt(p.name) : null) ?? now + backoff(Math.max(1, attempts));
      const final = !pacsFault && attempts >= config.maxAttempts;
      plog.warn(
        { line: row.line, step, code, reason, attempt: attempts, final },
        final ? 'Pull row failed.' : 'Pull step failed; it will be retried.',
      );
      if (step === 'query') {
        await ledger.queryFailed(
          row.id,
          final
            ? { code, reason, at: now, final: true }
            : { code, reason, at: now, nextAttemptAt: next, countAttempt: !pacsFault },
        );
      } else {
        const outcome: RetrieveOutcome = final
          ? { state: 'failed', code, reason }
          : { state: 'queued', code, reason, nextAttemptAt: next, countAttempt: !pacsFault };
        await ledger.retrieved(row.id, { outcome, counts: null, received: new Map(), at: now });
      }
    }

    async function runQuery(row: PullRow, permit: AssociationPermit, ctrl: AbortController): Promise<void> {
      try {
        plog.debug(
          { line: row.line, accessionNumber: row.key.accessionNumber, patientId: row.key.patientId },
          'Querying the PACS for a row.',
        );
        const out = await client.findSession(ctrl.signal, (s) => queryRow(s, row));
        permit.release();
        breakers.succeeded(p.name);
        const at = clock.now();
        switch (out.kind) {
          case 'resolved': {
            const r = await ledger.resolved(row.id, { studyInstanceUid: out.studyInstanceUid, series: out.series, at });
            plog.info(
              { line: row.line, series: out.series.length, outcome: r },
              r === 'queued' ? 'Pull row resolved.' : 'Pull row names a study already in this pull.',
            );
            break;
          }
          case 'not-found':
            await ledger.notFound(row.id, { reason: out.reason, at });
            plog.info({ line: row.line, code: ErrorCode.PULL_NOT_FOUND }, 'Pull row: no study found.');
            break;
          case 'ambiguous':
            await ledger.ambiguous(row.id, { candidates: out.candidates, at });
            plog.info(
              { line: row.line, code: ErrorCode.PULL_AMBIGUOUS, candidates: out.candidates.length },
              'Pull row matches several studies; a person must choose.',
            );
            break;
          case 'empty':
            await ledger.queryFailed(row.id, { code: ErrorCode.PULL_NOT_FOUND, reason: out.reason, at, final: true });
            break;
        }
      } catch (err) {
        permit.release();
        await failed(row, 'query', err, ctrl);
      }
    }

    async function runRetrieve(
      row: PullRow,
      study: StudyPermit,
      permit: AssociationPermit,
      ctrl: AbortController,
    ): Promise<void> {
      try {
        if (row.studyInstanceUid === null) {
          throw new Error(`Pull row ${String(row.id)} is queued without a study.`);
        }
        const uid = row.studyInstanceUid;
        await ledger.startRetrieve(row.id, clock.now());
        changed(row.pullId);
        const series = await ledger.series(row.id);
        const v = await retrieveStudy(
          {
            client,
            pacs: p,
            target: d.target,
            clock,
            signal: ctrl.signal,
            arrivalTimeoutMs: config.arrivalTimeoutMs,
            arrivalPollMs: config.arrivalPollMs,
            associationsDone: () => {
              permit.release();
            },
            onReceived: async (m) => {
              await ledger.recordReceived(row.id, m, clock.now());
              changed(row.pullId);
            },
          },
          uid,
          series,
        );
        const at = clock.now();
        const counts = v.result
          ? {
              status: v.result.status,
              completed: v.result.completed,
              failed: v.result.failed,
              warning: v.result.warning,
            }
          : null;
        if (v.kind === 'complete') {
          breakers.succeeded(p.name);
          await ledger.retrieved(row.id, { outcome: { state: 'complete' }, counts, received: v.received, at });
          plog.info(
            { line: row.line, fetched: v.fetched },
            v.fetched ? 'Pull row complete.' : 'Pull row was already complete.',
          );
          return;
        }
        if (ctrl.signal.aborted) {
          await ledger.recordReceived(row.id, v.received, at);
          await ledger.requeue(row.id, at);
          return;
        }
        if (v.destinationUnknown) {
          breakers.failed(p.name, { code: v.code, error: v.reason });
          await ledger.recordReceived(row.id, v.received, at);
          await ledger.requeue(row.id, at);
          await pauseAll(`${v.code}: ${v.reason}`);
          return;
        }
        if (v.pacsFault) {
          breakers.failed(p.name, { code: v.code, error: v.reason });
        } else {
          breakers.succeeded(p.name);
        }
        const attempts = row.attempts + (v.pacsFault ? 0 : 1);
        const got = [...v.received.values()].reduce((a, b) => a + b, 0);
        let outcome: RetrieveOutcome;
        if (!v.pacsFault && attempts >= config.maxAttempts) {
          outcome =
            got > 0
              ? { state: 'partial', code: ErrorCode.PULL_INCOMPLETE, reason: v.reason }
              : { state: 'failed', code: v.code, reason: v.reason };
        } else {
          const next = (v.pacsFault ? breakers.retryAt(p.name) : null) ?? at + backoff(Math.max(1, attempts));
          outcome = {
            state: 'queued',
            code: v.code,
            reason: v.reason,
            nextAttemptAt: next,
            countAttempt: !v.pacsFault,
          };
        }
        await ledger.retrieved(row.id, { outcome, counts, received: v.received, at });
        plog.warn(
          { line: row.line, code: v.code, reason: v.reason, attempt: attempts, outcome: outcome.state },
          outcome.state === 'queued' ? 'Pull row incomplete; it will be retried.' : 'Pull row ended incomplete.',
        );
      } catch (err) {
        permit.release();
        await failed(row, 'retrieve', err, ctrl);
      } finally {
        study.release();
      }
    }

    function launch(row: PullRow, run: (ctrl: AbortController) => Promise<void>): void {
      const ctrl = new AbortController();
      const task: Task = { pullId: row.pullId, pacs: p.name, ctrl, done: Promise.resolve() };
      tasks.set(row.id, task);
      task.done = run(ctrl)
        .catch((err: unknown) => {
          plog.error({ err, line: row.line }, 'Recording a pull step failed.');
        })
        .then(() => maybeEnd(row.pullId))
        .catch((err: unknown) => {
          plog.error({ err }, 'Ending a pull failed.');
        })
        .finally(() => {
          tasks.delete(row.id);
          sleeper.wake();
        });
    }

    /** Starts what may start now; returns when to look again (null: when a task ends or something is submitted). */
    async function dispatch(): Promise<number | null> {
      const now = clock.now();
      if (breakers.blocked().includes(p.name)) {
        const at = breakers.retryAt(p.name);
        return at !== null && at > now ? at : null;
      }
      const running = new Set(tasks.keys());
      const rows = await ledger.due(p.name, now, 64, running);
      if (rows.length === 0) {
        return ledger.nextDueAt(p.name, running);
      }
      let again: number | null = null;
      const soonest = (t: number | null): void => {
        if (t !== null) {
          again = again === null ? t : Math.min(again, t);
        }
      };
      let started = 0;
      for (const row of rows) {
        if (row.state === 'pending') {
          const a = throttle.tryAssociation();
          if (!a.ok) {
            soonest(a.retryAt);
            break;
          }
          breakers.claimed(p.name);
          launch(row, (ctrl) => runQuery(row, a, ctrl));
        } else {
          const st = throttle.tryStudy();
          if (!st.ok) {
            soonest(st.retryAt);
            continue;
          }
          const a = throttle.tryAssociation();
          if (!a.ok) {
            st.release();
            soonest(a.retryAt);
            break;
          }
          breakers.claimed(p.name);
          launch(row, (ctrl) => runRetrieve(row, st, a, ctrl));
        }
        started++;
        // A half-open circuit lets one probe through.
        if (breakers.blocked().includes(p.name)) {
          break;
        }
      }
      return started > 0 ? now : again;
    }

    return {
      p,
      sleeper,
      throttle,
      client,
      async loop() {
        while (!stopping) {
          let next: number | null;
          try {
            next = await dispatch();
          } catch (err) {
            plog.error({ err }, 'The pull runner failed; it tries again shortly.');
            next = clock.now() + 5000;
          }
          if (isStopping()) {
            break;
          }
          if (next !== null && next <= clock.now()) {
            continue;
          }
          await sleeper.sleep(next);
        }
      },
    };
  }

  const runners = new Map(d.pacs.map((p) => [p.name, createRunner(p)]));
  let loops: Promise<void>[] = [];

  function wakeAll(): void {
    for (const r of runners.values()) {
      r.sleeper.wake();
    }
  }

  async function interrupt(pred: (t: Task) => boolean, reason: string): Promise<void> {
    const hit = [...tasks.values()].filter(pred);
    for (const t of hit) {
      t.ctrl.abort(new Error(reason));
    }
    await Promise.all(hit.map((t) => t.done));
  }

  function schedulePurge(): void {
    purgeTimer = clock.setTimeout(
      () => {
        void ledger
          .purgeExpired(clock.now())
          .then((n) => {
            if (n > 0) {
              log.info({ pulls: n }, 'Patient data of ended pulls erased.');
            }
          })
          .catch((err: unknown) => {
            log.error({ err }, 'Erasing patient data of ended pulls failed.');
          })
          .finally(() => {
            if (!stopping) {
              schedulePurge();
            }
          });
      },
      Math.min(PURGE_EVERY_MS, Math.max(1000, config.phiRetentionMs)),
    );
  }

  async function mustPull(id: number): Promise<PullRecord> {
    const pull = await ledger.getPull(id);
    if (!pull) {
      throw new DaemonError(ErrorCode.PULL_LIST, `Pull ${String(id)} does not exist.`, {
        stage: 'receiving',
        retryable: false,
      });
    }
    return pull;
  }

  return {
    async start() {
      if (started) {
        return;
      }
      started = true;
      const n = await ledger.recover(clock.now());
      if (n > 0) {
        log.info({ rows: n }, 'Pull rows interrupted by the last shutdown are queued again.');
      }
      const purged = await ledger.purgeExpired(clock.now());
      if (purged > 0) {
        log.info({ pulls: purged }, 'Patient data of ended pulls erased.');
      }
      schedulePurge();
      loops = [...runners.values()].map((r) => r.loop());
    },
    async stop() {
      stopping = true;
      purgeTimer?.cancel();
      await interrupt(() => true, 'the gateway is stopping');
      wakeAll();
      await Promise.all(loops);
    },
    async submit(file, o) {
      if (!runners.has(o.pacs)) {
        throw new DaemonError(
          ErrorCode.PULL_PACS_UNKNOWN,
          `No PACS named ${o.pacs} is configured (known: ${[...runners.keys()].join(', ') || 'none'}).`,
          { stage: 'receiving', retryable: false },
        );
      }
      let parsed;
      try {
        parsed = parseRows(await readList(file, { maxBytes: config.maxFileBytes, maxRows: config.maxRows }), {
          project: o.project ?? null,
        });
      } catch (err) {
        if (err instanceof ListError) {
          throw new DaemonError(ErrorCode.PULL_LIST, `The list cannot be used: ${err.message}.`, {
            stage: 'receiving',
            retryable: false,
            cause: err,
          });
        }
        throw err;
      }
      const pull = await ledger.createPull({
        uid: randomUUID(),
        pacs: o.pacs,
        project: o.project ?? null,
        fileName: o.fileName ?? null,
        notes: parsed.notes,
        rows: parsed.rows,
        at: clock.now(),
      });
      log.info({ pull: pull.uid, pacs: o.pacs, rows: pull.rowsTotal, counts: pull.counts }, 'Pull submitted.');
      await maybeEnd(pull.id);
      runners.get(o.pacs)?.sleeper.wake();
      return (await ledger.getPull(pull.id)) ?? pull;
    },
    async pause(pullId, reason) {
      await mustPull(pullId);
      await ledger.setPullState(pullId, 'paused', reason ?? 'paused by an administrator', clock.now());
      await interrupt((t) => t.pullId === pullId, 'paused');
      changed(pullId);
    },
    async resume(pullId) {
      const pull = await mustPull(pullId);
      await ledger.setPullState(pullId, 'active', null, clock.now());
      runners.get(pull.pacs)?.sleeper.wake();
      changed(pullId);
    },
    async cancel(pullId) {
      await mustPull(pullId);
      // Paused first, so no runner starts a row of it while its running operations are cancelled.
      await ledger.setPullState(pullId, 'paused', 'being cancelled', clock.now());
      await interrupt((t) => t.pullId === pullId, 'cancelled');
      await ledger.cancelPull(pullId, { at: clock.now(), retentionMs: config.phiRetentionMs });
      log.info({ pull: (await ledger.getPull(pullId))?.uid }, 'Pull cancelled.');
      changed(pullId);
    },
    async choose(rowId, studyInstanceUid) {
      const row = await ledger.row(rowId);
      if (!row) {
        throw new DaemonError(ErrorCode.PULL_LIST, `Pull row ${String(rowId)} does not exist.`, {
          stage: 'receiving',
          retryable: false,
        });
      }
      await ledger.choose(rowId, studyInstanceUid, clock.now());
      const pull = await mustPull(row.pullId);
      runners.get(pull.pacs)?.sleeper.wake();
      changed(row.pullId);
    },
    async report(pullId, o) {
      const pull = await mustPull(pullId);
      const rows = await ledger.rows(pullId);
      const series = new Map<number, SeriesRecord[]>();
      for (const r of rows) {
        series.set(r.id, await ledger.series(r.id));
      }
      return reportCsv(pull, rows, series, o);
    },
    async echo(name, signal) {
      const r = runners.get(name);
      if (!r) {
        throw new DaemonError(ErrorCode.PULL_PACS_UNKNOWN, `No PACS named ${name} is configured.`, {
          stage: 'starting',
          retryable: false,
        });
      }
      try {
        await r.client.echo(signal);
      } catch (err) {
        if (err instanceof QrError) {
          throw new DaemonError(
            err.kind === 'rejected' && err.reject?.result === 1 ? ErrorCode.PACS_REFUSED : ErrorCode.PACS_UNAVAILABLE,
            `C-ECHO to ${r.p.aeTitle}@${r.p.host}:${String(r.p.port)} failed: ${err.message}.`,
            { stage: 'starting', retryable: true, cause: err },
          );
        }
        throw err;
      }
    },
    status() {
      const circuits = new Map(breakers.status().map((c) => [c.sink, c]));
      return [...runners.values()].map((r) => ({
        name: r.p.name,
        running: [...tasks.values()].filter((t) => t.pacs === r.p.name).length,
        throttle: r.throttle.status(),
        circuit: circuits.get(r.p.name) ?? null,
      }));
    },
  };
}
