//! `xnat-gateway import DIR`: ingest a folder once, with a progress bar on a terminal and a summary.
import { Writable } from 'node:stream';
import { importFolderOnce } from '../app/import-once.ts';
import { requireInput } from './args.ts';
import { CONFIG_EXIT, CONFIG_OPTION, expectArgs, type CommandSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { createProgressBar } from './progress.ts';
import { loggerFor } from './run.ts';

export const IMPORT_COMMAND: CommandSpec = {
  name: 'import',
  summary: 'ingest a folder once (no watching; the folder is left in place)',
  usage: ['import DIR [--config FILE]'],
  details:
    'Reads every file under DIR through the same intake as the watched import folder and spools the DICOM instances; a running daemon completes and delivers the series. Rejected files are listed once, on stderr, after the summary. Safe to run again: nothing is stored twice.',
  options: { config: CONFIG_OPTION },
  exitCodes: [
    { code: ExitCode.DATAERR, when: 'some files were rejected (listed on stderr), or the folder kept changing' },
    { code: ExitCode.NOINPUT, when: 'DIR does not exist' },
    CONFIG_EXIT,
  ],
  async run({ positionals, config }) {
    expectArgs(IMPORT_COMMAND, positionals, 1, 'DIR');
    const [dir = ''] = positionals;
    await requireInput(dir);
    const cfg = config();
    const bar = createProgressBar(process.stderr);
    // Log lines share stderr with the bar: each clears the bar first, and the next update redraws
    // it. Rejections are not logged here (they are listed below), only errors, unless debugging.
    const stderr = Object.assign(
      new Writable({
        write(chunk: Buffer, _enc, done) {
          bar.clear();
          process.stderr.write(chunk, () => {
            done();
          });
        },
      }),
      { isTTY: process.stderr.isTTY },
    );
    const verbose = cfg.log.level === 'debug' || cfg.log.level === 'trace';
    const log = loggerFor(cfg, stderr, verbose ? cfg.log.level : 'error');
    const summary = await importFolderOnce(cfg, dir, {
      log,
      onProgress: (p) => {
        bar.update(p.done, p.total, `${String(p.spooled)} spooled, ${String(p.rejected)} rejected`);
      },
    });
    bar.done();
    console.log(
      `Import of ${dir}: ${String(summary.files)} files, ${String(summary.spooled)} instances spooled, ${String(summary.ignored)} ignored, ${String(summary.rejected.length)} rejected.`,
    );
    for (const r of summary.rejected) {
      console.error(`  rejected ${r.file}: ${r.reason} (${r.code})`);
    }
    if (!summary.complete) {
      console.error(
        'The folder changed while it was read, or some files stayed unreadable: run the import again when it is complete.',
      );
      process.exitCode = ExitCode.DATAERR;
    } else if (summary.rejected.length) {
      process.exitCode = ExitCode.DATAERR;
    }
    console.log('The folder was left in place; the gateway delivers the series once they are complete.');
  },
};
