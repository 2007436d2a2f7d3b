//! One PACS's runner: loops over its rows that are due, starting a query or a retrieve for each as far as the schedule, the throttle and the circuit allow.
// Every outcome is written to the ledger by the step (steps.ts) before anything else happens; the
// runner only decides what may start now and when to look again.
import type { QrClient } from '../../dicom/qr/api.ts';
import { ErrorCode } from '../../errors.ts';
import type { PullRow } from '../../contracts/pull-ledger.ts';
import type { PacsConfig } from './config.ts';
import type { PacsStep, RunnerContext, Task } from './context.ts';
import { createSchedule } from './schedule.ts';
import { createSleeper, type Sleeper } from './sleeper.ts';
import { runQuery, runRetrieve } from './steps.ts';
import { createThrottle, type PacsThrottle } from './throttle.ts';

export interface Runner {
  readonly p: PacsConfig;
  readonly sleeper: Sleeper;
  readonly throttle: PacsThrottle;
  readonly client: QrClient;
  /** Runs until the service stops. */
  loop(): Promise<void>;
}

export function createRunner(ctx: RunnerContext, p: PacsConfig, client: QrClient): Runner {
  const { ledger, clock, breakers, tasks } = ctx;
  const throttle = createThrottle(createSchedule(p.schedule), clock);
  const sleeper = createSleeper(clock);
  const plog = ctx.log.child({ pacs: p.name });
  const step: PacsStep = {
    ...ctx,
    p,
    client,
    plog,
    async pauseAll(reason) {
      for (const pull of await ledger.pulls()) {
        if (pull.pacs === p.name && pull.state === 'active') {
          await ledger.setPullState(pull.id, 'paused', reason, clock.now());
          plog.error({ pull: pull.uid, reason }, 'Pull paused: the PACS refuses us; fix the configuration and resume.');
          ctx.changed(pull.id);
        }
      }
    },
  };

  const circuitState = (): string | undefined => breakers.status().find((c) => c.sink === p.name)?.state;

  function launch(row: PullRow, run: (ctrl: AbortController) => Promise<void>): void {
    breakers.claimed(p.name);
    // The one operation a half-open circuit lets through must end with a verdict on the PACS; one
    // that ended without (a failure of our own, a cancellation) would block the PACS for ever.
    const probe = circuitState() === 'half-open';
    const ctrl = new AbortController();
    const task: Task = { pullId: row.pullId, pacs: p.name, ctrl, done: Promise.resolve() };
    tasks.set(row.id, task);
    task.done = run(ctrl)
      .catch((err: unknown) => {
        plog.error({ err, line: row.line }, 'Recording a pull step failed.');
      })
      .then(() => ctx.maybeEnd(row.pullId))
      .catch((err: unknown) => {
        plog.error({ err }, 'Ending a pull failed.');
      })
      .finally(() => {
        tasks.delete(row.id);
        if (probe && circuitState() === 'half-open') {
          breakers.failed(p.name, {
            code: ErrorCode.PACS_UNAVAILABLE,
            error: 'the probe of the PACS ended without an answer from it; it is probed again later',
          });
        }
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
        launch(row, (ctrl) => runQuery(step, row, a, ctrl));
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
        launch(row, (ctrl) => runRetrieve(step, row, st, a, ctrl));
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
      while (!ctx.stopping()) {
        let next: number | null;
        try {
          next = await dispatch();
        } catch (err) {
          plog.error({ err }, 'The pull runner failed; it tries again shortly.');
          next = clock.now() + 5000;
        }
        if (ctx.stopping()) {
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
