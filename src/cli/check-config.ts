//! `xnat-gateway check-config`: validate the configuration and probe every sink.
import { checkSinks } from '../app/compose-sinks.ts';
import { createLogger } from '../log.ts';
import { CommandError, CONFIG_OPTION, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

export const CHECK_CONFIG_COMMAND: CommandSpec = {
  name: 'check-config',
  summary: 'validate the configuration, probe every sink (C-ECHO, XNAT login and projects), exit',
  usage: ['check-config [--config FILE]'],
  options: { config: CONFIG_OPTION },
  exitCodes: [
    {
      code: ExitCode.UNAVAILABLE,
      when: 'the configuration is valid, but a sink did not answer (XNAT or its DICOM receiver unreachable)',
    },
    {
      code: ExitCode.CONFIG,
      when: 'invalid configuration or environment, or a sink refused it (credentials, missing project, AE title)',
    },
  ],
  async run({ positionals, config }) {
    if (positionals.length) {
      throw usageError(CHECK_CONFIG_COMMAND, `unexpected argument "${positionals[0] ?? ''}".`);
    }
    const cfg = config();
    const problems = await checkSinks(cfg, createLogger('silent'));
    if (!problems.length) {
      console.log('Configuration is valid; every sink answered its healthcheck.');
      return;
    }
    const refused = problems.filter((p) => !p.unreachable);
    const lines = problems.map((p) => `  - sink ${p.sink}${p.unreachable ? ' (unreachable)' : ''}: ${p.message}`);
    // A refusal is something to fix in the configuration; an unreachable peer may only be down.
    throw new CommandError(
      refused.length ? ExitCode.CONFIG : ExitCode.UNAVAILABLE,
      `Configuration is valid, but:\n${lines.join('\n')}`,
    );
  },
};
