import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../../src/errors.ts';
import { FailureReason, failureReasonFor } from '../../../../src/sources/stow/failure.ts';
import type { PartOutcome } from '../../../../src/sources/stow/part-api.ts';
import { encodeResponse, statusFor } from '../../../../src/sources/stow/response.ts';
import { StowErrorCode } from '../../../../src/sources/stow/errors.ts';

const ok = (n: number): PartOutcome => ({
  ok: true,
  sopClassUid: '1.2.840.10008.5.1.4.1.1.2',
  sopInstanceUid: `1.2.3.${String(n)}`,
  outcome: 'stored',
});
const bad = (reason: number, uid: string | null = '1.2.3.9'): PartOutcome => ({
  ok: false,
  sopClassUid: uid && '1.2.840.10008.5.1.4.1.1.2',
  sopInstanceUid: uid,
  reason,
  code: ErrorCode.DICOM_UNPARSABLE,
  message: 'x',
});

describe('Store Instances Response', () => {
  it('is 200 when all are stored, 202 when some failed, 409 when none was, 503 when none was for lack of resources', () => {
    expect(statusFor([ok(1), ok(2)])).toBe(200);
    expect(statusFor([ok(1), bad(0xc000)])).toBe(202);
    expect(statusFor([bad(0xc000), bad(0xa700)])).toBe(409);
    expect(statusFor([bad(0xa700), bad(0xa700)])).toBe(503);
  });

  it('lists stored instances in ReferencedSOPSequence and failures with their FailureReason (DICOM JSON)', () => {
    const body = JSON.parse(
      encodeResponse([ok(1), bad(0xc409), bad(0xc000, null)], 'application/dicom+json'),
    ) as Record<string, { vr: string; Value?: Record<string, { vr: string; Value?: unknown[] }>[] }>;
    expect(Object.keys(body)).toEqual(['00081190', '00081198', '00081199']);
    expect(body['00081190']).toEqual({ vr: 'UR' });
    expect(body['00081199']?.Value).toEqual([
      {
        '00081150': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.2'] },
        '00081155': { vr: 'UI', Value: ['1.2.3.1'] },
        '00081190': { vr: 'UR' },
      },
    ]);
    expect(body['00081198']?.Value?.map((i) => i['00081197'])).toEqual([
      { vr: 'US', Value: [0xc409] },
      { vr: 'US', Value: [0xc000] },
    ]);
    // A part that could not be identified has no SOP references, only its reason.
    expect(Object.keys(body['00081198']?.Value?.[1] ?? {})).toEqual(['00081197']);
  });

  it('writes the PS3.19 Native DICOM Model, escaping values', () => {
    const xml = encodeResponse([ok(1), { ...bad(0xa900), sopInstanceUid: '1.2<&>' }], 'application/dicom+xml');
    expect(xml).toMatch(
      /^<\?xml version="1.0" encoding="UTF-8"\?>\n<NativeDicomModel xmlns="http:\/\/dicom.nema.org\/PS3.19\/models\/NativeDICOM"/,
    );
    expect(xml).toContain(
      '<DicomAttribute tag="00081197" vr="US" keyword="FailureReason"><Value number="1">43264</Value></DicomAttribute>',
    );
    expect(xml).toContain('1.2&#60;&#38;&#62;');
    expect(xml).toContain('<Item number="1">');
  });

  it("maps the gateway's codes to PS3.18 failure reasons, never to success", () => {
    expect(failureReasonFor(ErrorCode.SPOOL_FULL)).toBe(FailureReason.OutOfResources);
    expect(failureReasonFor(ErrorCode.INSTANCE_TOO_LARGE)).toBe(0xa700);
    expect(failureReasonFor(ErrorCode.DICOM_UID_MISMATCH)).toBe(0xa900);
    expect(failureReasonFor(ErrorCode.DICOM_UNPARSABLE)).toBe(0xc000);
    expect(failureReasonFor(StowErrorCode.STOW_STUDY_MISMATCH)).toBe(0xc409);
    expect(failureReasonFor(ErrorCode.DB_WRITE)).toBe(0x0110);
    expect(failureReasonFor(ErrorCode.SPOOL_WRITE)).toBe(0x0110);
  });
});
