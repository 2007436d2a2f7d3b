//! `xnat-gateway check-config`: validate the configuration and probe every sink.
import { checkSinks } from '../app/compose-sinks.ts';
import { createLogger } from '../log.ts';
import { echoEachPacs } from '../sources/pull/echo.ts';
import { CommandError, CONFIG_OPTION, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

export const CHECK_CONFIG_COMMAND: CommandSpec = {
  name: 'check-config',
  summary:
    'validate the configuration, probe every sink (C-ECHO, XNAT login and projects) and every PACS (C-ECHO), exit',
  usage: ['check-config [--config FILE]'],
  options: { config: CONFIG_OPTION },
  exitCodes: [
    {
      code: ExitCode.UNAVAILABLE,
      when: 'the configuration is valid, but a sink or a PACS did not answer (XNAT, its DICOM receiver or a PACS unreachable)',
    },
    {
      code: ExitCode.CONFIG,
      when: 'invalid configuration or environment, or a sink or PACS refused it (credentials, missing project, AE title)',
    },
  ],
  async run({ positionals, config }) {
    if (positionals.length) {
      throw usageError(CHECK_CONFIG_COMMAND, `unexpected argument "${positionals[0] ?? ''}".`);
    }
    const cfg = config();
    const problems = await checkSinks(cfg, createLogger('silent'));
    const pacs = await echoEachPacs(cfg.pacs, cfg.pull.echoTimeoutMs);
    if (!problems.length && !pacs.length) {
      console.log(
        `Configuration is valid; every sink answered its healthcheck${cfg.pacs.length ? ' and every PACS its C-ECHO' : ''}.`,
      );
      return;
    }
    const refused = [...problems.filter((p) => !p.unreachable), ...pacs.filter((p) => p.refused)];
    const lines = [
      ...problems.map((p) => `  - sink ${p.sink}${p.unreachable ? ' (unreachable)' : ''}: ${p.message}`),
      ...pacs.map((p) => `  - PACS ${p.pacs}${p.refused ? '' : ' (unreachable)'}: ${p.message}`),
    ];
    // A refusal is something to fix in the configuration; an unreachable peer may only be down.
    throw new CommandError(
      refused.length ? ExitCode.CONFIG : ExitCode.UNAVAILABLE,
      `Configuration is valid, but:\n${lines.join('\n')}`,
    );
  },
};
