//! `xnat-gateway explain` (which project, and why, without sending) and `release` (out of quarantine).
import { userInfo } from 'node:os';
import type { Config } from '../config/schema.ts';
import { explainJson, explainText } from '../app/explain.ts';
import { createLogger } from '../log.ts';
import { systemClock } from '../clock.ts';
import { createEvents } from '../events.ts';
import { releaseSeries } from '../pipeline/release.ts';
import { sinksFor } from '../app/compose-sinks.ts';
import { createJobStore } from '../store/sqlite/jobs.ts';
import { createRouteStore } from '../store/sqlite/routes.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import { isIdentifying } from '../transforms/anonymise/table.ts';
import { create as createRoute } from '../transforms/route/index.ts';
import { ExitCode } from './exit-codes.ts';
import { requireInput, seriesArg } from './args.ts';
import { CommandError, CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { openExistingDb } from './queue.ts';

export async function explainCommand(
  cfg: Config,
  args: readonly string[],
  values: { json?: boolean | undefined },
): Promise<void> {
  const log = createLogger(
    cfg.log.level === 'debug' || cfg.log.level === 'trace' ? cfg.log.level : 'warn',
    process.stderr,
  );
  const route = createRoute(
    cfg.route,
    { log, clock: systemClock, events: createEvents() },
    { identifying: isIdentifying },
  );
  try {
    const result = await route.explain(args, AbortSignal.timeout(24 * 3_600_000));
    if (values.json) {
      for (const s of result.series) {
        console.log(JSON.stringify(explainJson(s)));
      }
      for (const k of result.skipped) {
        console.error(`skipped ${k.path}: ${k.reason}`);
      }
    } else {
      console.log(explainText(result));
    }
    if (result.series.length === 0) {
      console.error('No DICOM series found.');
      process.exitCode = ExitCode.DATAERR;
    }
  } finally {
    await route.stop();
  }
}

/** Whether a gateway's status server answers on the configured address (a daemon is running). */
async function daemonAnswers(cfg: Config): Promise<boolean> {
  if (!cfg.http.enabled) {
    return false;
  }
  const host = cfg.http.host === '0.0.0.0' || cfg.http.host === '::' ? '127.0.0.1' : cfg.http.host;
  try {
    const r = await fetch(`http://${host.includes(':') ? `[${host}]` : host}:${String(cfg.http.port)}/healthz`, {
      signal: AbortSignal.timeout(2000),
    });
    return r.ok;
  } catch {
    return false;
  }
}

export async function releaseCommand(
  cfg: Config,
  series: string,
  values: { by?: string | undefined; reason?: string | undefined },
): Promise<void> {
  const db = openExistingDb(cfg);
  let message: string;
  try {
    const routes = createRouteStore(db);
    const id = await seriesArg(routes, series);
    const by = values.by ?? `${userInfo().username} (cli)`;
    const r = await releaseSeries(
      {
        db,
        uow: sqliteUnitOfWork(db),
        routes,
        jobs: createJobStore(db, systemClock),
        clock: systemClock,
        projects: cfg.route,
        sinksFor: sinksFor(cfg),
        maxAttempts: cfg.workers.maxAttempts,
      },
      id,
      by,
      values.reason ?? null,
    );
    if (!r.ok) {
      throw new CommandError(r.status === 404 ? ExitCode.NOINPUT : ExitCode.DATAERR, r.message);
    }
    const them = r.released.length === 1 ? 'it' : 'them';
    message = `Released series ${r.released.join(', ')} to ${r.project} (by ${by}); delivery ${r.released.length === 1 ? 'is' : 'are'} queued.`;
    // The jobs are in the database; only a running daemon's worker delivers them (at its next poll).
    message += (await daemonAnswers(cfg))
      ? ` The running gateway delivers ${them} now.`
      : ` No gateway answers on ${cfg.http.host}:${String(cfg.http.port)}: ${them === 'it' ? 'it is' : 'they are'} delivered when the gateway runs.`;
  } finally {
    db.close();
  }
  console.log(message);
}

export const EXPLAIN_COMMAND: CommandSpec = {
  name: 'explain',
  summary: 'which project each series under PATH would go to, and why (sends nothing)',
  usage: ['explain PATH... [--json] [--config FILE]'],
  options: {
    json: { type: 'boolean', description: 'one JSON object per series instead of text' },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'no DICOM series found' },
    { code: ExitCode.NOINPUT, when: 'a PATH does not exist' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    if (positionals.length === 0) {
      throw usageError(EXPLAIN_COMMAND, 'missing PATH.');
    }
    for (const p of positionals) {
      await requireInput(p);
    }
    await explainCommand(config(), positionals, { json: values.json === true });
  },
};

export const RELEASE_COMMAND: CommandSpec = {
  name: 'release',
  summary: 'send a quarantined series (id, or SeriesInstanceUID) to the hospital project',
  usage: ['release SERIES [--by NAME] [--reason TEXT] [--config FILE]'],
  details:
    "Queues the series (and the RT objects that follow it) for delivery to route.hospitalProject, de-identified under that project's key; a running gateway delivers it at its next poll.",
  options: {
    by: { type: 'string', value: 'NAME', description: 'who released it (default: your user name)' },
    reason: { type: 'string', value: 'TEXT', description: 'why (recorded in the audit)' },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'refused in this state (not quarantined, already released, …)' },
    { code: ExitCode.NOINPUT, when: 'no such series, or no gateway database' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    expectArgs(RELEASE_COMMAND, positionals, 1, 'SERIES');
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    await releaseCommand(config(), positionals[0] ?? '', { by: str('by'), reason: str('reason') });
  },
};
