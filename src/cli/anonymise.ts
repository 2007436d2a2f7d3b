//! `xnat-gateway anonymise IN OUT [--project P]`: offline de-identification with the daemon's engine, key and ledger.
import { anonymiseOffline } from '../anonymise-offline.ts';
import type { Config } from '../config/schema.ts';
import { requireInput } from './args.ts';
import { CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

export async function anonymiseCommand(cfg: Config, args: readonly string[], values: { project?: string | undefined }): Promise<void> {
  const [input = '', output = ''] = args;
  const s = await anonymiseOffline(cfg, input, output, { project: values.project });
  if (s.profile === 'none') {console.error('Profile "none": the output is NOT de-identified (only PatientComments is set).');}
  const done = s.series.filter((r) => r.outcome === 'done');
  const notDone = s.series.filter((r) => r.outcome !== 'done');
  console.log(`Project ${s.project}, profile ${s.profile}, key ${s.keyId}: ${String(s.files)} files, ${String(s.skipped)} not DICOM (skipped), ${String(s.series.length)} series.`);
  for (const r of done) {console.log(`  ${String(r.instances)} instances -> ${r.detail}`);}
  for (const r of notDone) {console.error(`  ${String(r.instances)} instances ${r.outcome}: ${r.detail}`);}
  console.log(`${String(done.length)} series de-identified and verified, ${String(notDone.length)} not written.`);
  if (notDone.length) {process.exitCode = ExitCode.DATAERR;}
}

export const ANONYMISE_COMMAND: CommandSpec = {
  name: 'anonymise',
  summary: 'de-identify a file or folder into OUT with the daemon\'s engine, key and ledger (nothing is sent)',
  usage: ['anonymise IN OUT [--project P] [--config FILE]'],
  options: {
    project: { type: 'string', value: 'P', description: 'XNAT project whose key, profile and ledger to use (default: route.hospitalProject)' },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'a series could not be de-identified and verified (nothing written for it)' },
    { code: ExitCode.NOINPUT, when: 'IN does not exist' },
    CONFIG_EXIT,
  ],
  async run({ positionals, values, config }) {
    expectArgs(ANONYMISE_COMMAND, positionals, 2, 'IN and OUT');
    const project = typeof values.project === 'string' ? values.project : undefined;
    if (project !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(project)) {
      throw usageError(ANONYMISE_COMMAND, '--project: an XNAT project id holds only letters, digits, "_" and "-".');
    }
    await requireInput(positionals[0] ?? '');
    await anonymiseCommand(config(), positionals, { project });
  },
};
