//! File-system errors without their paths, for logs above debug level.
// Node's fs errors name the path ("EACCES: permission denied, open '/import/SMITH_J/…'"), and in an
// import folder the path is chosen by staff and may identify a patient.

export interface SafeError {
  readonly code: string | undefined;
  readonly syscall: string | undefined;
  readonly message: string;
}

export function safeError(err: unknown): SafeError {
  const e = err as NodeJS.ErrnoException;
  const raw = err instanceof Error ? err.message : String(err);
  return { code: e.code, syscall: e.syscall, message: raw.replace(/'[^']*'/g, '<path>') };
}
