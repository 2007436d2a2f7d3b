//! `xnat-gateway queue ls|requeue|fail`: the delivery jobs, from the database (works beside a running daemon).
import { existsSync } from 'node:fs';
import { systemClock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import { openDb, type Db } from '../store/sqlite/db.ts';
import { createJobStore } from '../store/sqlite/jobs.ts';
import type { JobState } from '../store/jobs.ts';
import { layoutFor } from '../spool/layout.ts';
import { CommandError, CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

const STATES: readonly JobState[] = ['queued', 'running', 'done', 'dead'];

/** The gateway's database; never creates one (a missing file means a wrong --config or dataDir). */
export function openExistingDb(cfg: Config): Db {
  const file = layoutFor(cfg.dataDir).dbFile;
  if (!existsSync(file)) {
    throw new CommandError(ExitCode.NOINPUT, `${file}: no gateway database (is --config / dataDir right?).`);
  }
  return openDb(file);
}

function jobId(raw: string | undefined): number {
  if (raw === undefined || !/^\d+$/.test(raw)) {
    throw usageError(QUEUE_COMMAND, `JOB_ID must be a job number${raw === undefined ? '' : `, not "${raw}"`}.`);
  }
  return Number(raw);
}

export const QUEUE_COMMAND: CommandSpec = {
  name: 'queue',
  summary: 'list delivery jobs; requeue a dead job; fail a job on purpose',
  usage: [
    'queue ls [--state S] [--config FILE]',
    'queue requeue JOB_ID [--config FILE]',
    'queue fail JOB_ID [--reason TEXT] [--config FILE]',
  ],
  details:
    '`ls` prints one job per line: id, series, sink, state, attempts, last error. `requeue` puts a dead (or queued) job back with its attempts reset; `fail` makes a queued or running job dead. Safe while the daemon runs.',
  options: {
    state: { type: 'string', value: 'S', description: 'ls: only jobs in this state', choices: STATES },
    reason: { type: 'string', value: 'TEXT', description: 'fail: why (recorded on the job)' },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'refused in this state (e.g. requeue of a delivered job)' },
    { code: ExitCode.NOINPUT, when: 'no such job, or no gateway database' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    const [verb, ...args] = positionals;
    if (verb !== 'ls' && verb !== 'requeue' && verb !== 'fail') {
      throw usageError(
        QUEUE_COMMAND,
        verb === undefined ? 'missing ls, requeue or fail.' : `unknown queue command "${verb}".`,
      );
    }
    if (verb === 'ls') {
      expectArgs(QUEUE_COMMAND, args, 0, 'no arguments');
    } else {
      expectArgs(QUEUE_COMMAND, args, 1, 'JOB_ID');
    }
    const id = verb === 'ls' ? 0 : jobId(args[0]);
    const db = openExistingDb(config());
    try {
      const jobs = createJobStore(db, systemClock);
      if (verb === 'ls') {
        const state = values.state as JobState | undefined;
        for (const j of await jobs.list(state ? { state, limit: 1000 } : { limit: 1000 })) {
          console.log(
            `${String(j.id)}\tseries ${String(j.seriesId)}\t${j.sink}\t${j.state}\tattempts ${String(j.attempts)}/${String(j.maxAttempts)}\t${j.lastError ?? ''}`,
          );
        }
        return;
      }
      const before = await jobs.get(id);
      if (!before) {
        throw new CommandError(ExitCode.NOINPUT, `No job ${String(id)}.`);
      }
      const after =
        verb === 'requeue'
          ? await jobs.requeue(id)
          : await jobs.failNow(id, typeof values.reason === 'string' ? values.reason : 'Failed by operator.');
      if (!after) {
        const allowed = verb === 'requeue' ? 'dead or queued' : 'queued or running';
        throw new CommandError(
          ExitCode.DATAERR,
          `Job ${String(id)} is ${before.state}; ${verb} takes ${allowed} jobs.`,
        );
      }
      console.log(`Job ${String(id)} is now ${after.state}.`);
    } finally {
      db.close();
    }
  },
};
