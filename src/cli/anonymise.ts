//! `xnat-gateway anonymise IN OUT [--project P] [--allow-burned-in]`: offline de-identification with the daemon's engine, key and ledger.
import { anonymiseOffline, type OfflineSummary } from '../anonymise-offline.ts';
import type { Config } from '../config/schema.ts';
import { inputArgs } from './args.ts';
import { ExitCode } from './exit-codes.ts';

export const ANONYMISE_USAGE = '  xnat-gateway anonymise IN OUT [--project P] [--allow-burned-in] [--config FILE]   de-identify a file or folder into OUT (nothing is sent)';

/** Prints what was written, every file that was not and why; returns whether anything DICOM was left out. */
function report(s: OfflineSummary): boolean {
  const done = s.series.filter((r) => r.outcome === 'done');
  const notDone = s.series.filter((r) => r.outcome !== 'done');
  const notDicom = s.skipped.filter((k) => !k.dicom);
  const unprocessed = s.skipped.filter((k) => k.dicom);
  const dicomNote = unprocessed.length ? `, ${String(unprocessed.length)} DICOM not processed` : '';
  console.log(`Project ${s.project}, profile ${s.profile}, key ${s.keyId}: ${String(s.files)} files, ${String(notDicom.length)} not DICOM (skipped)${dicomNote}, ${String(s.series.length)} series.`);
  for (const r of done) {console.log(`  ${String(r.instances)} instances -> ${r.detail}`);}
  for (const r of notDone) {
    console.error(`  ${String(r.instances)} instances ${r.outcome}: ${r.detail}`);
    for (const f of r.files) {console.error(`    ${f}`);}
  }
  for (const k of unprocessed) {console.error(`  not processed ${k.path}: ${k.reason}`);}
  for (const k of notDicom) {console.log(`  skipped ${k.path}: ${k.reason}`);}
  console.log(`${String(done.length)} series de-identified and verified, ${String(notDone.length)} not written${unprocessed.length ? `, ${String(unprocessed.length)} DICOM file(s) not processed` : ''}.`);
  return notDone.length > 0 || unprocessed.length > 0;
}

export async function anonymiseCommand(cfg: Config, args: readonly string[], values: { project?: string | undefined; 'allow-burned-in'?: boolean | undefined }): Promise<void> {
  const checked = await inputArgs(args, 2, `Usage:\n${ANONYMISE_USAGE}`);
  if (!checked) {return;}
  const [input = '', output = ''] = checked;
  if (values.project !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(values.project)) {
    console.error('--project: an XNAT project id holds only letters, digits, "_" and "-".');
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const s = await anonymiseOffline(cfg, input, output, { project: values.project, allowBurnedIn: values['allow-burned-in'] });
  if (s.profile === 'none') {console.error('Profile "none": the output is NOT de-identified (only PatientComments is set).');}
  if (report(s)) {process.exitCode = ExitCode.DATAERR;}
}
