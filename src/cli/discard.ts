//! `xnat-gateway discard SERIES --reason TEXT`: give up a series batch the spool holds and delete its originals.
import { userInfo } from 'node:os';
import type { Config } from '../config/schema.ts';
import { systemClock } from '../clock.ts';
import { discardSeries } from '../pipeline/discard.ts';
import { createJobStore } from '../store/sqlite/jobs.ts';
import { createOriginalsStore } from '../store/sqlite/originals.ts';
import { createRouteStore } from '../store/sqlite/routes.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import { layoutFor } from '../spool/layout.ts';
import { seriesArg } from './args.ts';
import { CommandError, CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { openExistingDb } from './queue.ts';

/** Runs beside a daemon (SQLite WAL): the decision is one transaction, then the files are deleted. */
async function discard(cfg: Config, series: string, by: string, reason: string): Promise<void> {
  const layout = layoutFor(cfg.dataDir);
  const db = openExistingDb(cfg);
  try {
    const routes = createRouteStore(db);
    const id = await seriesArg(routes, series);
    const r = await discardSeries(
      {
        db,
        uow: sqliteUnitOfWork(db),
        routes,
        jobs: createJobStore(db, systemClock),
        originals: createOriginalsStore(db),
        clock: systemClock,
        spoolDir: layout.spoolDir,
      },
      id,
      by,
      reason,
    );
    if (!r.ok) {
      throw new CommandError(r.status === 404 ? ExitCode.NOINPUT : ExitCode.DATAERR, r.message);
    }
    const cancelled = r.jobsCancelled
      ? `, ${String(r.jobsCancelled)} pending deliver${r.jobsCancelled === 1 ? 'y' : 'ies'} cancelled`
      : '';
    console.log(
      `Discarded series ${String(r.seriesId)} (by ${by}): ${String(r.files)} files, ${String(r.bytes)} bytes removed from the spool${cancelled}.`,
    );
  } finally {
    db.close();
  }
}

export const DISCARD_COMMAND: CommandSpec = {
  name: 'discard',
  summary: 'delete a held series batch from the spool and cancel its pending deliveries (audited)',
  usage: ['discard SERIES --reason TEXT [--by NAME] [--config FILE]'],
  details:
    'SERIES is a series batch id, or a SeriesInstanceUID (its latest batch). Quarantined, waiting, failed and dead batches keep their originals until delivered or discarded; a discarded batch can no longer be released or requeued. Safe while the daemon runs.',
  options: {
    reason: { type: 'string', value: 'TEXT', description: 'why (required; recorded in the audit)' },
    by: { type: 'string', value: 'NAME', description: 'who discarded it (default: your user name)' },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'refused in this state (e.g. already delivered or discarded)' },
    { code: ExitCode.NOINPUT, when: 'no such series, or no gateway database' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    expectArgs(DISCARD_COMMAND, positionals, 1, 'SERIES');
    const reason = typeof values.reason === 'string' ? values.reason.trim() : '';
    if (reason === '') {
      throw usageError(DISCARD_COMMAND, 'a reason is required (--reason TEXT): it goes into the audit.');
    }
    const by = typeof values.by === 'string' ? values.by : `${userInfo().username} (cli)`;
    await discard(config(), positionals[0] ?? '', by, reason);
  },
};
