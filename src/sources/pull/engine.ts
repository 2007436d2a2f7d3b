//! The pull service: takes lists, and works their rows against each PACS within its schedule, limits and circuit breaker.
// One runner per PACS (runner.ts) loops over the rows that are due (ledger), starting a query or a
// retrieve (steps.ts) for each as long as the throttle grants an association (and, for a retrieve,
// a study slot) and the breaker is closed. Every outcome is written to the ledger before anything
// else happens, so a restart resumes from there (rows left `retrieving` are queued again by
// `recover`; a study whose instances all arrived is then found complete without being fetched
// again). Whose fault a failure is decides the row's next move (failure.ts). This module is the
// service's API: lists in, pause/resume/cancel/choose, reports, C-ECHO, status.
import { randomUUID } from 'node:crypto';
import type { Clock } from '../../clock.ts';
import type { QrClient } from '../../dicom/qr/api.ts';
import { QrError } from '../../dicom/qr/failure.ts';
import { DaemonError, ErrorCode } from '../../errors.ts';
import type { Logger } from '../../log.ts';
import { backoffMs } from '../../resilience/backoff.ts';
import { createBreakers, type CircuitStatus } from '../../resilience/breaker.ts';
import type { PacsConfig, PullConfig } from './config.ts';
import type { PullLedger, PullRecord, SeriesRecord } from '../../contracts/pull-ledger.ts';
import type { RunnerContext, Task } from './context.ts';
import { ListError, readList } from './list.ts';
import type { RetrieveTarget } from './ports.ts';
import { reportCsv } from './report.ts';
import { createPurger } from './purge.ts';
import { parseRows } from './rows.ts';
import { qrClientFor } from './pacs-client.ts';
import { createRunner } from './runner.ts';
import type { ThrottleStatus } from './throttle.ts';

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
  let started = false;

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

  const ctx: RunnerContext = {
    ledger,
    config,
    target: d.target,
    clock,
    log,
    breakers,
    tasks,
    stopping: () => stopping,
    backoff,
    changed,
    maybeEnd,
  };
  const runners = new Map(d.pacs.map((p) => [p.name, createRunner(ctx, p, (d.client ?? qrClientFor)(p))]));
  let loops: Promise<void>[] = [];
  const purger = createPurger({ ledger, clock, log, retentionMs: config.phiRetentionMs });

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
      await purger.purge();
      purger.start();
      loops = [...runners.values()].map((r) => r.loop());
    },
    async stop() {
      stopping = true;
      purger.stop();
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
