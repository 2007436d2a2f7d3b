//! `xnat-gateway pseudonyms export|import`: the pseudonym ledger as CSV for the data controller, and lookup tables in.
import type { Config } from '../config/schema.ts';
import { CONFIG_EXIT, CONFIG_OPTION, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { exportCommand } from './pseudonyms-export.ts';
import { importCommand } from './pseudonyms-import.ts';
import type { PseudonymsOptions } from './pseudonyms-ledger.ts';

export type { PseudonymsOptions };

/**
 * `xnat-gateway pseudonyms export [--project P] [--uids] [--output FILE]` and
 * `xnat-gateway pseudonyms import FILE --project P`. Errors an operator can fix are CommandErrors
 * (USAGE, NOINPUT, DATAERR); anything else is a crash.
 */
export async function pseudonymsCommand(
  cfg: Config,
  args: readonly string[],
  values: PseudonymsOptions,
): Promise<void> {
  const [verb, ...rest] = args;
  if (verb === 'export' && rest.length === 0) {
    await exportCommand(cfg, values);
  } else if (verb === 'import') {
    const [file, ...extra] = rest;
    const project = values.project;
    if (!file || extra.length || !project) {
      throw usageError(PSEUDONYMS_COMMAND, 'import needs one FILE and --project P.');
    }
    await importCommand(cfg, file, project);
  } else {
    throw usageError(
      PSEUDONYMS_COMMAND,
      verb === 'export'
        ? 'export takes no arguments.'
        : verb === undefined
          ? 'missing export or import.'
          : `unknown pseudonyms command "${verb}".`,
    );
  }
}

export const PSEUDONYMS_COMMAND: CommandSpec = {
  name: 'pseudonyms',
  summary: 'export the pseudonym ledger as CSV; import a lookup table',
  usage: [
    'pseudonyms export [--project P] [--uids] [--output FILE] [--config FILE]',
    'pseudonyms import FILE --project P [--config FILE]',
  ],
  details:
    'export writes project,kind,issuer,original,label,source,created_at (or id_old,id_new with --uids) to stdout or to a new owner-only file. import reads a CSV lookup table (patient_id, subject[, issuer]) into one project, all or nothing.',
  options: {
    project: { type: 'string', value: 'P', description: 'the XNAT project (required for import and --uids)' },
    uids: { type: 'boolean', description: 'export: the UID map as id_old,id_new' },
    output: {
      type: 'string',
      short: 'o',
      value: 'FILE',
      description: 'export: write to this new file (0600) instead of stdout',
    },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'import: the table was refused (line named); nothing was imported' },
    { code: ExitCode.NOINPUT, when: 'no gateway database, no such project in the ledger, or FILE cannot be read' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    const str = (k: string): string | undefined => (typeof values[k] === 'string' ? values[k] : undefined);
    await pseudonymsCommand(config(), positionals, {
      project: str('project'),
      output: str('output'),
      uids: values.uids === true,
    });
  },
};
