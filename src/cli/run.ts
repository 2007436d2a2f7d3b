//! `xnat-gateway run`: the daemon, with signal handling and fatal-path logging.
import type { Config } from '../config/schema.ts';
import { startWhenSpace } from '../app/start-when-space.ts';
import { systemClock } from '../clock.ts';
import { createLogger, type Logger } from '../log.ts';
import { CONFIG_EXIT, CONFIG_OPTION, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

/** The root logger a command's configuration asks for (level, json or pretty), on `stream`. */
export function loggerFor(
  cfg: Config,
  stream?: NodeJS.WritableStream & { isTTY?: boolean },
  level = cfg.log.level,
): Logger {
  return createLogger(level, stream, { format: cfg.log.format });
}

async function runDaemon(cfg: Config): Promise<void> {
  const log = loggerFor(cfg);
  process.on('unhandledRejection', (err) => {
    log.fatal({ err }, 'Unhandled promise rejection; exiting.');
    process.exit(ExitCode.CRASH);
  });
  process.on('uncaughtException', (err) => {
    log.fatal({ err }, 'Uncaught exception; exiting.');
    process.exit(ExitCode.CRASH);
  });
  // Node's own warnings (deprecations, experimental features) go through the log like everything
  // else, so that stdout stays one format (JSON lines for journald and log shippers).
  process.removeAllListeners('warning');
  process.on('warning', (w) => {
    log.warn({ warning: w.name, code: (w as { code?: string }).code, detail: w.message }, 'Node.js warning.');
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
    if (!stopping) {
      throw err;
    }
  });
}

export const RUN_COMMAND: CommandSpec = {
  name: 'run',
  summary: 'run the daemon (embedded defaults + environment when no --config)',
  usage: ['run [--config FILE]'],
  details:
    'Receives DICOM (C-STORE SCP, watched import folder), assembles, routes, de-identifies and delivers series until SIGTERM or SIGINT; a second signal exits at once. Logs go to stdout (log.format: pretty on a terminal, JSON otherwise).',
  options: { config: CONFIG_OPTION },
  exitCodes: [CONFIG_EXIT],
  async run({ positionals, config }) {
    if (positionals.length) {
      throw usageError(RUN_COMMAND, `unexpected argument "${positionals[0] ?? ''}".`);
    }
    await runDaemon(config());
  },
};
