//! What a subcommand declares (usage, options, exit codes, how to run) and the help text built from it.
// main.ts keeps one table of these; a new command is a module exporting a CommandSpec, added there.
import type { Config } from '../config/schema.ts';
import { EXIT_MEANINGS, ExitCode } from './exit-codes.ts';

/** One option: parseArgs type, help text, and (for strings) the values it accepts. */
export interface OptionSpec {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** Placeholder in help, e.g. FILE. */
  readonly value?: string;
  readonly description: string;
  /** Accepted values; anything else is a usage error (exit 2) naming them. */
  readonly choices?: readonly string[];
}

/** Parsed command line handed to a command. */
export interface CommandInput {
  readonly positionals: readonly string[];
  readonly values: Readonly<Record<string, string | boolean | undefined>>;
  /** Loads and validates the configuration (--config, or defaults + environment); exits 78 when invalid. */
  readonly config: () => Config;
}

export interface CommandSpec {
  readonly name: string;
  /** One line for the global usage. */
  readonly summary: string;
  /** Synopsis lines without the program name, e.g. `queue requeue JOB_ID`. */
  readonly usage: readonly string[];
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Exit codes beyond 0, 1 and 2, with what they mean for this command. */
  readonly exitCodes: readonly { readonly code: ExitCode; readonly when: string }[];
  /** Optional paragraph after the synopsis. */
  readonly details?: string;
  run(input: CommandInput): Promise<void> | void;
}

/** A failure the operator can act on: printed as is (no stack), with its exit code. */
export class CommandError extends Error {
  override readonly name = 'CommandError';
  readonly exitCode: ExitCode;
  constructor(exitCode: ExitCode, message: string) {
    super(message);
    this.exitCode = exitCode;
  }
}

/** `--config FILE`, shared by every command that reads the configuration. */
export const CONFIG_OPTION: OptionSpec = {
  type: 'string',
  short: 'c',
  value: 'FILE',
  description: 'configuration file (default: embedded defaults + XNAT_GATEWAY_* environment)',
};
/** Exit code 78, shared by every command that reads the configuration. */
export const CONFIG_EXIT = { code: ExitCode.CONFIG, when: EXIT_MEANINGS[ExitCode.CONFIG] } as const;

const PROG = 'xnat-gateway';

/** The `<command> --help` text: synopsis, details, options, exit codes. */
export function commandHelp(spec: CommandSpec): string {
  const lines = ['Usage:', ...spec.usage.map((u) => `  ${PROG} ${u}`)];
  if (spec.details) {
    lines.push('', spec.details);
  }
  const opts = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : '    '}--${name}${o.value ? ` ${o.value}` : ''}`;
    return [flag, `${o.description}${o.choices ? ` (one of: ${o.choices.join(', ')})` : ''}`] as const;
  });
  opts.push(['-h, --help', 'show this help']);
  const width = Math.max(...opts.map(([f]) => f.length)) + 2;
  lines.push('', 'Options:', ...opts.map(([f, d]) => `  ${f.padEnd(width)}${d}`));
  const codes = [
    { code: ExitCode.OK, when: EXIT_MEANINGS[ExitCode.OK] },
    ...spec.exitCodes,
    { code: ExitCode.USAGE, when: EXIT_MEANINGS[ExitCode.USAGE] },
    { code: ExitCode.CRASH, when: EXIT_MEANINGS[ExitCode.CRASH] },
  ];
  codes.sort((a, b) => a.code - b.code);
  lines.push('', 'Exit codes:', ...codes.map((c) => `  ${String(c.code).padStart(2)}  ${c.when}`));
  return lines.join('\n');
}

/** The usage error for `spec` (exit 2): the problem, then where to look. */
export function usageError(spec: CommandSpec | null, problem: string): CommandError {
  return new CommandError(
    ExitCode.USAGE,
    `${PROG}${spec ? ` ${spec.name}` : ''}: ${problem}\nTry '${PROG}${spec ? ` ${spec.name}` : ''} --help'.`,
  );
}

/** Checks option values against their `choices`; throws a usage error naming the accepted values. */
export function checkChoices(spec: CommandSpec, values: Readonly<Record<string, unknown>>): void {
  for (const [name, o] of Object.entries(spec.options)) {
    const v = values[name];
    if (o.choices && typeof v === 'string' && !o.choices.includes(v)) {
      throw usageError(spec, `--${name}: "${v}" is not one of ${o.choices.join(', ')}.`);
    }
  }
}

/** Throws a usage error unless exactly `count` non-empty positional arguments were given. */
export function expectArgs(spec: CommandSpec, args: readonly string[], count: number, names: string): void {
  if (args.length !== count || args.some((a) => a === '')) {
    throw usageError(spec, args.length < count ? `missing ${names}.` : `too many arguments (expected ${names}).`);
  }
}
