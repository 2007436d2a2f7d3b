#!/usr/bin/env node
//! Command-line entry point: `xnat-gateway run | check-config | import | queue | anonymise | pseudonyms | explain | release`.
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { startWhenSpace } from '../start-when-space.ts';
import { checkSinks } from '../compose-sinks.ts';
import { importFolderOnce } from '../import-once.ts';
import { createProgressBar } from './progress.ts';
import { inputArgs } from './args.ts';
import { anonymiseCommand, ANONYMISE_USAGE } from './anonymise.ts';
import { pseudonymsCommand, PSEUDONYMS_USAGE } from './pseudonyms.ts';
import { explainCommand, releaseCommand, ROUTE_USAGE } from './route.ts';
import { discardCommand, DISCARD_USAGE } from './discard.ts';
import { createLogger } from '../log.ts';
import { openDb } from '../queue/db.ts';
import { createJobStore } from '../queue/jobs.ts';
import { systemClock } from '../clock.ts';
import { layoutFor } from '../spool/layout.ts';
import { ExitCode } from './exit-codes.ts';

const USAGE = `Usage:
  xnat-gateway run [--config FILE]           run the daemon (defaults + environment when no file)
  xnat-gateway check-config [--config FILE]  validate the configuration, probe every sink, exit
  xnat-gateway import DIR [--config FILE]    ingest a folder once (no watching; the folder is left in place)
  xnat-gateway queue ls [--state S] [--config FILE]
  xnat-gateway queue requeue JOB_ID [--config FILE]
  xnat-gateway queue fail JOB_ID --reason TEXT [--config FILE]
${ANONYMISE_USAGE}
${PSEUDONYMS_USAGE}
${ROUTE_USAGE}
${DISCARD_USAGE}`;

function config(file: string | undefined): Config {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(err.message);
      process.exit(ExitCode.CONFIG);
    }
    throw err;
  }
}

async function run(cfg: Config): Promise<void> {
  const log = createLogger(cfg.log.level);
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'Unhandled promise rejection; exiting.');
    process.exit(ExitCode.CRASH);
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'Uncaught exception; exiting.');
    process.exit(ExitCode.CRASH);
  });
  // A full data disk at start-up is waited out (start-when-space.ts), not an exit.
  const daemon = startWhenSpace(cfg, { log, clock: systemClock });
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      log.warn({ signal }, 'Second signal: exiting at once.');
      process.exit(ExitCode.CRASH);
    }
    stopping = true;
    log.info({ signal }, 'Stopping.');
    daemon.stop().then(
      () => process.exit(ExitCode.OK),
      (err: unknown) => {
        log.fatal({ err }, 'Shutdown failed.');
        process.exit(ExitCode.CRASH);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  await daemon.started.catch((err: unknown) => {
    if (!stopping) {throw err;}
  });
}

function queue(cfg: Config, args: string[], values: { state?: string; reason?: string }): void {
  const db = openDb(layoutFor(cfg.dataDir).dbFile);
  const jobs = createJobStore(db, systemClock);
  try {
    const [verb, id] = args;
    if (verb === 'ls') {
      const state = values.state as 'queued' | 'running' | 'done' | 'dead' | undefined;
      for (const j of jobs.list(state ? { state, limit: 1000 } : { limit: 1000 })) {
        console.log(`${String(j.id)}\tseries ${String(j.seriesId)}\t${j.sink}\t${j.state}\tattempts ${String(j.attempts)}/${String(j.maxAttempts)}\t${j.lastError ?? ''}`);
      }
    } else if ((verb === 'requeue' || verb === 'fail') && id && /^\d+$/.test(id)) {
      const job = verb === 'requeue' ? jobs.requeue(Number(id)) : jobs.failNow(Number(id), values.reason ?? 'Failed by operator.');
      if (!job) {
        console.error(`Job ${id} not found (or not in a state that allows ${verb}).`);
        process.exitCode = ExitCode.USAGE;
      } else {console.log(`Job ${id} is now ${job.state}.`);}
    } else {
      console.error(USAGE);
      process.exitCode = ExitCode.USAGE;
    }
  } finally {
    db.close();
  }
}

async function importOnce(cfg: Config, args: string[]): Promise<void> {
  const checked = await inputArgs(args, 1, USAGE);
  if (!checked) {return;}
  const [dir = ''] = checked;
  // Logs go to stderr at warn and above so they do not tangle with the progress bar.
  const log = createLogger(cfg.log.level === 'debug' || cfg.log.level === 'trace' ? cfg.log.level : 'warn', process.stderr);
  const bar = createProgressBar(process.stderr);
  const summary = await importFolderOnce(cfg, dir, { log, onProgress: (p) => { bar.update(p.done, p.total, `${String(p.spooled)} spooled, ${String(p.rejected)} rejected`); } });
  bar.done();
  console.log(`Import of ${dir}: ${String(summary.files)} files, ${String(summary.spooled)} instances spooled, ${String(summary.ignored)} ignored, ${String(summary.rejected.length)} rejected.`);
  for (const r of summary.rejected) {console.error(`  rejected ${r.file}: ${r.reason} (${r.code})`);}
  if (!summary.complete) {
    console.error('The folder changed while it was read, or some files stayed unreadable: run the import again when it is complete.');
    process.exitCode = ExitCode.DATAERR;
  } else if (summary.rejected.length) {
    process.exitCode = ExitCode.DATAERR;
  }
  console.log('The folder was left in place; the gateway delivers the series once they are complete.');
}

async function main(argv: string[]): Promise<void> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, allowPositionals: true, options: {
      config: { type: 'string', short: 'c' }, state: { type: 'string' }, reason: { type: 'string' }, help: { type: 'boolean', short: 'h' },
      project: { type: 'string' }, output: { type: 'string', short: 'o' }, uids: { type: 'boolean' },
      json: { type: 'boolean' }, by: { type: 'string' },
    } });
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`);
    process.exit(ExitCode.USAGE);
  }
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || !command) {
    console.log(USAGE);
    return;
  }
  const file = parsed.values.config;
  switch (command) {
    case 'run':
      await run(config(file));
      return;
    case 'check-config': {
      const cfg = config(file);
      const problems = await checkSinks(cfg, createLogger('silent'));
      if (problems.length) {
        console.error(`Configuration is valid, but:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
        process.exitCode = ExitCode.CONFIG;
        return;
      }
      console.log('Configuration is valid; every sink answered its healthcheck.');
      return;
    }
    case 'import':
      await importOnce(config(file), rest);
      return;
    case 'queue':
      queue(config(file), rest, parsed.values);
      return;
    case 'anonymise':
      await anonymiseCommand(config(file), rest, parsed.values);
      return;
    case 'pseudonyms':
      await pseudonymsCommand(config(file), rest, parsed.values);
      return;
    case 'explain':
      await explainCommand(config(file), rest, parsed.values);
      return;
    case 'release':
      releaseCommand(config(file), rest, parsed.values);
      return;
    case 'discard':
      await discardCommand(config(file), rest, parsed.values);
      return;
    default:
      console.error(`Unknown command "${command}".\n${USAGE}`);
      process.exit(ExitCode.USAGE);
  }
}

main(process.argv.slice(2)).catch((err: unknown) => {
  console.error(err);
  process.exit(ExitCode.CRASH);
});
