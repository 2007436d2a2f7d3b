//! The STOW-RS source's error codes (documented in docs/errors.md like every code).
// Kept in the source's folder: a component brings its own codes (src/errors.ts explains).
import type { ComponentErrorCode } from '../../errors.ts';

export const StowErrorCode = {
  STOW_PART_INVALID: 'ERR_STOW_PART_INVALID',
  STOW_STUDY_MISMATCH: 'ERR_STOW_STUDY_MISMATCH',
  STOW_REQUEST_INVALID: 'ERR_STOW_REQUEST_INVALID',
  STOW_UNAUTHORISED: 'ERR_STOW_UNAUTHORISED',
  STOW_TOKENS: 'ERR_STOW_TOKENS',
} as const satisfies Record<string, ComponentErrorCode>;
