import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { StoreStatus, storeStatusFor } from '../../../../src/sources/dimse/status.ts';

const failure = (code: ErrorCode, retryable = true) => ({ ok: false as const, code, retryable, message: 'x' });

describe('C-STORE status', () => {
  it('answers Success only for a stored, duplicate or replaced instance', () => {
    for (const outcome of ['stored', 'duplicate', 'replaced'] as const) {
      expect(storeStatusFor({ ok: true, instanceId: 1, outcome })).toBe(0x0000);
    }
  });

  it('answers 0xA900 when the dataset does not match the request UIDs', () => {
    expect(storeStatusFor(failure(ErrorCode.DICOM_UID_MISMATCH, false))).toBe(0xa900);
  });

  it('answers 0xA900 for an image instance without pixel data', () => {
    expect(storeStatusFor(failure(ErrorCode.DICOM_NO_PIXEL_DATA, false))).toBe(0xa900);
  });

  it('answers 0xC000 for an unparsable dataset, one missing its UIDs, or a C-STORE-RQ that cannot be understood', () => {
    expect(storeStatusFor(failure(ErrorCode.DICOM_UNPARSABLE, false))).toBe(0xc000);
    expect(storeStatusFor(failure(ErrorCode.DICOM_MISSING_UID, false))).toBe(0xc000);
    expect(storeStatusFor(failure(ErrorCode.COMMAND_INVALID, false))).toBe(0xc000);
  });

  it('answers 0xA700 (out of resources) for every other failure, never Success', () => {
    const permanent: ErrorCode[] = [
      ErrorCode.DICOM_UID_MISMATCH,
      ErrorCode.DICOM_UNPARSABLE,
      ErrorCode.DICOM_MISSING_UID,
      ErrorCode.DICOM_NO_PIXEL_DATA,
      ErrorCode.COMMAND_INVALID,
    ];
    const others = Object.values(ErrorCode).filter((c) => !permanent.includes(c));
    expect(others.length).toBeGreaterThan(10);
    for (const code of others) {
      expect(storeStatusFor(failure(code)), code).toBe(StoreStatus.OutOfResources);
    }
  });

  it('uses the PS3.4 status values', () => {
    expect(StoreStatus).toEqual({
      Success: 0x0000,
      OutOfResources: 0xa700,
      DataSetDoesNotMatchSopClass: 0xa900,
      CannotUnderstand: 0xc000,
      UnrecognizedOperation: 0x0211,
    });
  });
});
