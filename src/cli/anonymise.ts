//! `xnat-gateway anonymise IN OUT [--project P] [--allow-burned-in]`: offline de-identification with the daemon's engine, key and ledger.
import { anonymiseOffline, type OfflineSummary } from '../app/anonymise-offline.ts';
import type { Config } from '../config/schema.ts';
import { requireInput } from './args.ts';
import { CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';

/** Prints what was written, every file that was not and why; returns whether anything DICOM was left out. */
function report(s: OfflineSummary): boolean {
  const done = s.series.filter((r) => r.outcome === 'done');
  const notDone = s.series.filter((r) => r.outcome !== 'done');
  const notDicom = s.skipped.filter((k) => !k.dicom);
  const unprocessed = s.skipped.filter((k) => k.dicom);
  const dicomNote = unprocessed.length ? `, ${String(unprocessed.length)} DICOM not processed` : '';
  console.log(
    `Project ${s.project}, profile ${s.profile}, key ${s.keyId}: ${String(s.files)} files, ${String(notDicom.length)} not DICOM (skipped)${dicomNote}, ${String(s.series.length)} series.`,
  );
  for (const r of done) {
    console.log(`  ${String(r.instances)} instances -> ${r.detail}`);
  }
  for (const r of notDone) {
    console.error(`  ${String(r.instances)} instances ${r.outcome}: ${r.detail}`);
    for (const f of r.files) {
      console.error(`    ${f}`);
    }
  }
  for (const k of unprocessed) {
    console.error(`  not processed ${k.path}: ${k.reason}`);
  }
  for (const k of notDicom) {
    console.log(`  skipped ${k.path}: ${k.reason}`);
  }
  console.log(
    `${String(done.length)} series de-identified and verified, ${String(notDone.length)} not written${unprocessed.length ? `, ${String(unprocessed.length)} DICOM file(s) not processed` : ''}.`,
  );
  return notDone.length > 0 || unprocessed.length > 0;
}

export async function anonymiseCommand(
  cfg: Config,
  args: readonly string[],
  values: { project?: string | undefined; allowBurnedIn?: boolean | undefined },
): Promise<void> {
  const [input = '', output = ''] = args;
  const s = await anonymiseOffline(cfg, input, output, {
    project: values.project,
    allowBurnedIn: values.allowBurnedIn,
  });
  if (s.profile === 'none') {
    console.error('Profile "none": the output is NOT de-identified (only PatientComments is set).');
  }
  if (report(s)) {
    process.exitCode = ExitCode.DATAERR;
  }
}

export const ANONYMISE_COMMAND: CommandSpec = {
  name: 'anonymise',
  summary: "de-identify a file or folder into OUT with the daemon's engine, key and ledger (nothing is sent)",
  usage: ['anonymise IN OUT [--project P] [--allow-burned-in] [--config FILE]'],
  details:
    'Every file that is not written is listed with the reason. A series whose pixels may show the patient (the built-in burned-in rules) is refused unless --allow-burned-in is given.',
  options: {
    project: {
      type: 'string',
      value: 'P',
      description: 'XNAT project whose key, profile and ledger to use (default: route.hospitalProject)',
    },
    'allow-burned-in': {
      type: 'boolean',
      description: 'de-identify series the burned-in rules would quarantine (pixels are not cleaned)',
    },
    config: CONFIG_OPTION,
  },
  exitCodes: [
    {
      code: ExitCode.DATAERR,
      when: 'a series could not be de-identified and verified (nothing written for it), or a DICOM file was not processed',
    },
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
    await anonymiseCommand(config(), positionals, { project, allowBurnedIn: values['allow-burned-in'] === true });
  },
};
