#!/usr/bin/env node
//! Command-line entry point: one table of subcommands, each declaring its usage, options and exit codes.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { ANONYMISE_COMMAND } from './anonymise.ts';
import { CHECK_CONFIG_COMMAND } from './check-config.ts';
import { CommandError, checkChoices, commandHelp, usageError, type CommandSpec } from './command.ts';
import { EXIT_MEANINGS, ExitCode } from './exit-codes.ts';
import { IMPORT_COMMAND } from './import.ts';
import { PSEUDONYMS_COMMAND } from './pseudonyms.ts';
import { QUEUE_COMMAND } from './queue.ts';
import { EXPLAIN_COMMAND, RELEASE_COMMAND } from './route.ts';
import { RUN_COMMAND } from './run.ts';
import { QUARANTINE_COMMAND, SERIES_COMMAND } from './series.ts';
import { HASH_PASSWORD_COMMAND } from './hash-password.ts';
import { DISCARD_COMMAND } from './discard.ts';
import { PULL_COMMAND } from './pull.ts';

/** Every subcommand, in the order the global usage lists them. */
export const COMMANDS: readonly CommandSpec[] = [
  RUN_COMMAND,
  CHECK_CONFIG_COMMAND,
  IMPORT_COMMAND,
  QUEUE_COMMAND,
  ANONYMISE_COMMAND,
  PSEUDONYMS_COMMAND,
  EXPLAIN_COMMAND,
  RELEASE_COMMAND,
  DISCARD_COMMAND,
  SERIES_COMMAND,
  QUARANTINE_COMMAND,
  HASH_PASSWORD_COMMAND,
  PULL_COMMAND,
];

function version(): string {
  // package.json sits two levels up from both src/cli/main.ts and dist/cli/main.js.
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return `xnat-gateway ${pkg.version} (Node ${process.version})`;
}

function globalUsage(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length)) + 2;
  return [
    'Usage: xnat-gateway COMMAND [options]      (xnat-gateway COMMAND --help for its options and exit codes)',
    '',
    'Commands:',
    ...COMMANDS.map((c) => `  ${c.name.padEnd(width)}${c.summary}`),
    '',
    'Options:',
    '  -h, --help     show this help',
    '  -V, --version  show the version',
    '',
    'Exit codes:',
    ...Object.entries(EXIT_MEANINGS).map(([code, meaning]) => `  ${code.padStart(2)}  ${meaning}`),
  ].join('\n');
}

function loadOrExit(file: string | undefined): Config {
  try {
    return loadConfig(file);
  } catch (err) {
    if (err instanceof ConfigError) {
      throw new CommandError(ExitCode.CONFIG, err.message);
    }
    throw err;
  }
}

/** Parses `argv` for one command and runs it. */
async function dispatch(argv: readonly string[]): Promise<void> {
  const [first, ...rest] = argv;
  if (first === undefined || first === '--help' || first === '-h' || first === 'help') {
    const topic = first === 'help' ? rest[0] : undefined;
    const spec = topic === undefined ? undefined : COMMANDS.find((c) => c.name === topic);
    if (topic !== undefined && !spec) {
      throw usageError(null, `unknown command "${topic}".`);
    }
    console.log(spec ? commandHelp(spec) : globalUsage());
    return;
  }
  if (first === '--version' || first === '-V') {
    console.log(version());
    return;
  }
  const spec = COMMANDS.find((c) => c.name === first);
  if (!spec) {
    throw usageError(
      null,
      first.startsWith('-') ? `unknown option "${first}" (a COMMAND comes first).` : `unknown command "${first}".`,
    );
  }
  const options: Record<string, { type: 'string' | 'boolean'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: [...rest], allowPositionals: true, strict: true, options });
  } catch (err) {
    throw usageError(spec, (err as Error).message.split('\n')[0] ?? String(err));
  }
  if (parsed.values.help) {
    console.log(commandHelp(spec));
    return;
  }
  checkChoices(spec, parsed.values);
  const file = parsed.values.config;
  await spec.run({
    positionals: parsed.positionals,
    values: parsed.values,
    config: () => loadOrExit(typeof file === 'string' ? file : undefined),
  });
}

dispatch(process.argv.slice(2)).catch((err: unknown) => {
  if (err instanceof CommandError) {
    console.error(err.message);
    process.exitCode = err.exitCode;
    return;
  }
  // A bug: the stack is what a developer needs, and exit 1 tells a supervisor it crashed.
  console.error(err);
  process.exitCode = ExitCode.CRASH;
});
