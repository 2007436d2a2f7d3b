//! `xnat-gateway anonymise IN OUT [--project P]`: offline de-identification with the daemon's engine, key and ledger.
import { anonymiseOffline } from '../anonymise-offline.ts';
import type { Config } from '../config/schema.ts';
import { inputArgs } from './args.ts';
import { ExitCode } from './exit-codes.ts';

export const ANONYMISE_USAGE = '  xnat-gateway anonymise IN OUT [--project P] [--config FILE]   de-identify a file or folder into OUT (nothing is sent)';

export async function anonymiseCommand(cfg: Config, args: readonly string[], values: { project?: string | undefined }): Promise<void> {
  const checked = await inputArgs(args, 2, `Usage:\n${ANONYMISE_USAGE}`);
  if (!checked) {return;}
  const [input = '', output = ''] = checked;
  if (values.project !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(values.project)) {
    console.error('--project: an XNAT project id holds only letters, digits, "_" and "-".');
    process.exitCode = ExitCode.USAGE;
    return;
  }
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
