//! The error-code registry: every failure an operator can see carries one of these codes.
// docs/errors.md has one anchor per code; test/unit/errors.test.ts keeps the two in step. A
// component's own codes live in its folder (src/<kind>/<type>/errors.ts, e.g. the STOW-RS source's),
// so adding a component does not edit this file; the same test finds and checks them.

export const ErrorCode = {
  CONFIG_INVALID: 'ERR_CONFIG_INVALID',
  SPOOL_FULL: 'ERR_SPOOL_FULL',
  SPOOL_WRITE: 'ERR_SPOOL_WRITE',
  QUEUE_BACKLOG: 'ERR_QUEUE_BACKLOG',
  DB_WRITE: 'ERR_DB_WRITE',
  DICOM_UNPARSABLE: 'ERR_DICOM_UNPARSABLE',
  DICOM_MISSING_UID: 'ERR_DICOM_MISSING_UID',
  DICOM_UID_MISMATCH: 'ERR_DICOM_UID_MISMATCH',
  DICOM_NO_PIXEL_DATA: 'ERR_DICOM_NO_PIXEL_DATA',
  INSTANCE_TOO_LARGE: 'ERR_INSTANCE_TOO_LARGE',
  SHUTTING_DOWN: 'ERR_SHUTTING_DOWN',
  ASSOC_CALLED_AE: 'ERR_ASSOC_CALLED_AE',
  ASSOC_CALLING_AE: 'ERR_ASSOC_CALLING_AE',
  ASSOC_PEER_IP: 'ERR_ASSOC_PEER_IP',
  ASSOC_LIMIT: 'ERR_ASSOC_LIMIT',
  ASSOC_BACKPRESSURE: 'ERR_ASSOC_BACKPRESSURE',
  ASSOC_PEER_LIMIT: 'ERR_ASSOC_PEER_LIMIT',
  ASSOC_REQUEST_INVALID: 'ERR_ASSOC_REQUEST_INVALID',
  PDU_INVALID: 'ERR_PDU_INVALID',
  COMMAND_INVALID: 'ERR_COMMAND_INVALID',
  COMMAND_UNSUPPORTED: 'ERR_COMMAND_UNSUPPORTED',
  PEER_TIMEOUT: 'ERR_PEER_TIMEOUT',
  PEER_TOO_SLOW: 'ERR_PEER_TOO_SLOW',
  PEER_CONNECTIONS: 'ERR_PEER_CONNECTIONS',
  SINK_WRITE: 'ERR_SINK_WRITE',
  SINK_INVALID_UID: 'ERR_SINK_INVALID_UID',
  SINK_RETRY: 'ERR_SINK_RETRY',
  SINK_CIRCUIT_OPEN: 'ERR_SINK_CIRCUIT_OPEN',
  XNAT_AUTH: 'ERR_XNAT_AUTH',
  XNAT_PROJECT: 'ERR_XNAT_PROJECT',
  XNAT_CONFLICT: 'ERR_XNAT_CONFLICT',
  XNAT_REJECTED: 'ERR_XNAT_REJECTED',
  XNAT_UNAVAILABLE: 'ERR_XNAT_UNAVAILABLE',
  XNAT_VERIFY: 'ERR_XNAT_VERIFY',
  XNAT_UNVERIFIED: 'ERR_XNAT_UNVERIFIED',
  DIMSE_ASSOCIATION: 'ERR_DIMSE_ASSOCIATION',
  DIMSE_TRANSFER_SYNTAX: 'ERR_DIMSE_TRANSFER_SYNTAX',
  DIMSE_REJECTED: 'ERR_DIMSE_REJECTED',
  DIMSE_RETRY: 'ERR_DIMSE_RETRY',
  JOB_PAYLOAD: 'ERR_JOB_PAYLOAD',
  JOB_LEASE_LOST: 'ERR_JOB_LEASE_LOST',
  JOB_UNEXPECTED: 'ERR_JOB_UNEXPECTED',
  JOB_CANCELLED: 'ERR_JOB_CANCELLED',
  JOB_TOO_OLD: 'ERR_JOB_TOO_OLD',
  SERIES_MISSING_FILE: 'ERR_SERIES_MISSING_FILE',
  FOLDER_NOT_DICOM: 'ERR_FOLDER_NOT_DICOM',
  FOLDER_TRUNCATED: 'ERR_FOLDER_TRUNCATED',
  FOLDER_UNREADABLE: 'ERR_FOLDER_UNREADABLE',
  FOLDER_NOT_FOLLOWED: 'ERR_FOLDER_NOT_FOLLOWED',
  FOLDER_ZIP_REJECTED: 'ERR_FOLDER_ZIP_REJECTED',
  FOLDER_RELEASE: 'ERR_FOLDER_RELEASE',
  ANON_HELD: 'ERR_ANON_HELD',
  ANON_IDENTITY: 'ERR_ANON_IDENTITY',
  ANON_VERIFY: 'ERR_ANON_VERIFY',
  ANON_UNREADABLE: 'ERR_ANON_UNREADABLE',
  ANON_KEY: 'ERR_ANON_KEY',
  ANON_SCRIPT: 'ERR_ANON_SCRIPT',
  LOOKUP_KEY: 'ERR_LOOKUP_KEY',
  CONSOLE_CSRF: 'ERR_CONSOLE_CSRF',
  CONSOLE_SIGN_IN: 'ERR_CONSOLE_SIGN_IN',
  NOTIFY_WEBHOOK: 'ERR_NOTIFY_WEBHOOK',
  NOTIFY_SMTP: 'ERR_NOTIFY_SMTP',
  PULL_LIST: 'ERR_PULL_LIST',
  PULL_PACS_UNKNOWN: 'ERR_PULL_PACS_UNKNOWN',
  PULL_ROW_INVALID: 'ERR_PULL_ROW_INVALID',
  PULL_NOT_FOUND: 'ERR_PULL_NOT_FOUND',
  PULL_AMBIGUOUS: 'ERR_PULL_AMBIGUOUS',
  PULL_NOTHING_ARRIVED: 'ERR_PULL_NOTHING_ARRIVED',
  PULL_INCOMPLETE: 'ERR_PULL_INCOMPLETE',
  PACS_UNAVAILABLE: 'ERR_PACS_UNAVAILABLE',
  PACS_REFUSED: 'ERR_PACS_REFUSED',
} as const;
/** A code defined by a component in its own errors.ts: `ERR_` and the component's prefix. */
export type ComponentErrorCode = `ERR_${string}`;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode] | ComponentErrorCode;

/** Where in the pipeline an error happened; recorded on failed jobs and in metrics labels. */
export type Stage = 'receiving' | 'assembling' | 'transforming' | 'sending' | 'starting';

/** A failure with a registry code, the stage it happened in, and whether retrying may help. */
export class DaemonError extends Error {
  override readonly name = 'DaemonError';
  readonly code: ErrorCode;
  readonly stage: Stage;
  readonly retryable: boolean;
  constructor(code: ErrorCode, message: string, o: { stage: Stage; retryable: boolean; cause?: unknown }) {
    super(message, { cause: o.cause });
    this.code = code;
    this.stage = o.stage;
    this.retryable = o.retryable;
  }
}

/** A short, PHI-free description of any thrown value, for `last_error` columns and log fields. */
export function describeError(err: unknown): string {
  if (err instanceof DaemonError) {
    return `${err.code}: ${err.message}`;
  }
  if (err instanceof Error) {
    return `${err.name}: ${err.message}`;
  }
  return String(err);
}
