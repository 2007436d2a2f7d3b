//! The single root pino logger and the redaction backstop for patient identifiers and secrets.
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger } from 'pino';

/** Paths pino blanks whatever the level: a backstop, not permission to log PHI. */
export const REDACT_PATHS = [
  'PatientName', '*.PatientName', 'PatientID', '*.PatientID', 'PatientBirthDate', '*.PatientBirthDate',
  'password', '*.password', 'token', '*.token', 'req.headers.authorization', 'req.headers.cookie',
];

/** Builds the root logger; JSON lines to stdout (or to `destination`, for tests). */
export function createLogger(level: LevelWithSilent, destination?: NodeJS.WritableStream): Logger {
  const opts = { level, base: { name: 'xnat-gateway' }, redact: { paths: REDACT_PATHS, censor: '[redacted]' } };
  return destination ? pino(opts, destination) : pino(opts);
}
