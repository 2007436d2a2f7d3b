//! `xnat-gateway discard SERIES --reason TEXT`: give up a series batch the spool holds and delete its originals.
import { userInfo } from 'node:os';
import type { Config } from '../config/schema.ts';
import { systemClock } from '../clock.ts';
import { discardSeries } from '../pipeline/discard.ts';
import { openDb } from '../queue/db.ts';
import { createJobStore } from '../queue/jobs.ts';
import { createOriginalsStore } from '../queue/originals.ts';
import { createRouteStore } from '../queue/routes.ts';
import { layoutFor } from '../spool/layout.ts';
import { seriesArg } from './args.ts';
import { ExitCode } from './exit-codes.ts';

export const DISCARD_USAGE = `  xnat-gateway discard SERIES --reason TEXT [--by NAME] [--config FILE]
                                             delete a held series batch (id, or SeriesInstanceUID: its latest batch)
                                             from the spool, cancel its pending deliveries; audited`;

/** Runs beside a daemon (SQLite WAL): the decision is one transaction, then the files are deleted. */
export async function discardCommand(cfg: Config, args: string[], values: { by?: string | undefined; reason?: string | undefined }): Promise<void> {
  const [series] = args;
  const reason = values.reason?.trim() ?? '';
  if (args.length !== 1 || !series || reason === '') {
    console.error(`${reason === '' ? 'A reason is required (--reason TEXT): it goes into the audit.\n' : ''}${DISCARD_USAGE}`);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const layout = layoutFor(cfg.dataDir);
  const db = openDb(layout.dbFile);
  try {
    const routes = createRouteStore(db);
    const id = seriesArg(routes, series);
    if (id === null) {return;}
    const by = values.by ?? `${userInfo().username} (cli)`;
    const r = await discardSeries({
      db, routes, jobs: createJobStore(db, systemClock), originals: createOriginalsStore(db), clock: systemClock, spoolDir: layout.spoolDir,
    }, id, by, reason);
    if (!r.ok) {
      console.error(r.message);
      process.exitCode = r.status === 404 ? ExitCode.NOINPUT : ExitCode.DATAERR;
      return;
    }
    const cancelled = r.jobsCancelled ? `, ${String(r.jobsCancelled)} pending deliver${r.jobsCancelled === 1 ? 'y' : 'ies'} cancelled` : '';
    console.log(`Discarded series ${String(r.seriesId)} (by ${by}): ${String(r.files)} files, ${String(r.bytes)} bytes removed from the spool${cancelled}.`);
  } finally {
    db.close();
  }
}
