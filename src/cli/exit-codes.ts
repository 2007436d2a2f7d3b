//! Process exit codes (sysexits-style where one fits).
export const ExitCode = {
  OK: 0,
  /** Unexpected crash; the service manager restarts us and durability makes that safe. */
  CRASH: 1,
  USAGE: 2,
  /** EX_DATAERR: `import` finished, but some files were rejected (listed on stderr). */
  DATAERR: 65,
  /** EX_NOINPUT: `import` was given a folder that does not exist. */
  NOINPUT: 66,
  /** EX_CONFIG: invalid configuration or environment. */
  CONFIG: 78,
} as const;
