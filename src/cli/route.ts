//! `xnat-gateway explain` (which project, and why, without sending) and `release` (out of quarantine).
import { userInfo } from 'node:os';
import type { Config } from '../config/schema.ts';
import { explainJson, explainText } from '../explain.ts';
import { createLogger } from '../log.ts';
import { systemClock } from '../clock.ts';
import { createEvents } from '../events.ts';
import { releaseSeries } from '../pipeline/release.ts';
import { sinksFor } from '../compose-sinks.ts';
import { openDb } from '../queue/db.ts';
import { createJobStore } from '../queue/jobs.ts';
import { createRouteStore } from '../queue/routes.ts';
import { layoutFor } from '../spool/layout.ts';
import { isIdentifying } from '../transforms/anonymise/table.ts';
import { create as createRoute } from '../transforms/route/index.ts';
import { ExitCode } from './exit-codes.ts';
import { inputArgs, seriesArg } from './args.ts';

export const ROUTE_USAGE = `  xnat-gateway explain PATH... [--json] [--config FILE]    which project each series would go to, and why (sends nothing)
  xnat-gateway release SERIES [--by NAME] [--reason TEXT] [--config FILE]
                                             send a quarantined series (id, or SeriesInstanceUID) to the hospital project`;

export async function explainCommand(cfg: Config, args: string[], values: { json?: boolean | undefined }): Promise<void> {
  for (const a of args) {
    if (!(await inputArgs([a], 1, ROUTE_USAGE))) {return;}
  }
  if (args.length === 0) {
    console.error(ROUTE_USAGE);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const log = createLogger(cfg.log.level === 'debug' || cfg.log.level === 'trace' ? cfg.log.level : 'warn', process.stderr);
  const route = createRoute(cfg.route, { log, clock: systemClock, events: createEvents() }, { identifying: isIdentifying });
  try {
    const result = await route.explain(args, AbortSignal.timeout(24 * 3_600_000));
    if (values.json) {
      for (const s of result.series) {console.log(JSON.stringify(explainJson(s)));}
      for (const k of result.skipped) {console.error(`skipped ${k.path}: ${k.reason}`);}
    } else {
      console.log(explainText(result));
    }
    if (result.series.length === 0) {
      console.error('No DICOM series found.');
      process.exitCode = ExitCode.DATAERR;
    }
  } finally {
    await route.close();
  }
}

export function releaseCommand(cfg: Config, args: string[], values: { by?: string | undefined; reason?: string | undefined }): void {
  const [series] = args;
  if (args.length !== 1 || !series) {
    console.error(ROUTE_USAGE);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const db = openDb(layoutFor(cfg.dataDir).dbFile);
  try {
    const routes = createRouteStore(db);
    const id = seriesArg(routes, series);
    if (id === null) {return;}
    // The running daemon's worker picks the queued jobs up at its next poll.
    const by = values.by ?? `${userInfo().username} (cli)`;
    const r = releaseSeries({
      db, routes, jobs: createJobStore(db, systemClock), clock: systemClock, projects: cfg.route,
      sinksFor: sinksFor(cfg), maxAttempts: cfg.workers.maxAttempts,
    }, id, by, values.reason ?? null);
    if (!r.ok) {
      console.error(r.message);
      process.exitCode = r.status === 404 ? ExitCode.NOINPUT : ExitCode.DATAERR;
      return;
    }
    console.log(`Released series ${r.released.join(', ')} to ${r.project} (by ${by}); the gateway delivers ${r.released.length === 1 ? 'it' : 'them'} there now.`);
  } finally {
    db.close();
  }
}
