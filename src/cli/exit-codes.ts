//! Process exit codes (sysexits-style where one fits), each with the meaning `--help` and the docs show.
export const ExitCode = {
  OK: 0,
  /** Unexpected crash; the service manager restarts us and durability makes that safe. */
  CRASH: 1,
  /** Wrong command line: an unknown command or option, a missing argument, an invalid option value. */
  USAGE: 2,
  /** EX_DATAERR: the input was refused (files rejected by `import`, a series not de-identified), or the request is refused in this state (e.g. requeue of a delivered job). */
  DATAERR: 65,
  /** EX_NOINPUT: what the command names does not exist (a folder, a job, a series, a project's ledger). */
  NOINPUT: 66,
  /** EX_UNAVAILABLE: a peer did not answer (XNAT, a DICOM receiver), or no suitable Node was found. */
  UNAVAILABLE: 69,
  /** EX_CONFIG: invalid configuration or environment, or a sink that refused it (credentials, project). */
  CONFIG: 78,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

/** One line per code, as `--help` prints them (the same table is in README.md). */
export const EXIT_MEANINGS: Readonly<Record<ExitCode, string>> = {
  0: 'success',
  1: 'crash (a bug; the log says where)',
  2: 'usage: unknown command or option, missing argument, invalid value',
  65: 'refused: input rejected, or not allowed in this state',
  66: 'not found',
  69: 'unreachable: a peer (XNAT, a DICOM receiver) did not answer',
  78: 'invalid configuration or environment',
};
