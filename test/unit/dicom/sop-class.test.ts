import { describe, expect, it } from 'vitest';
import { isAcceptedAbstractSyntax, VERIFICATION_SOP_CLASS } from '../../../src/dicom/sop-class.ts';

describe('accepted abstract syntaxes', () => {
  it('accepts Verification', () => {
    expect(isAcceptedAbstractSyntax(VERIFICATION_SOP_CLASS)).toBe(true);
  });

  it.each([
    ['CT Image Storage', '1.2.840.10008.5.1.4.1.1.2'],
    ['Enhanced CT Image Storage', '1.2.840.10008.5.1.4.1.1.2.1'],
    ['MR Image Storage', '1.2.840.10008.5.1.4.1.1.4'],
    ['Enhanced MR Image Storage', '1.2.840.10008.5.1.4.1.1.4.1'],
    ['RT Structure Set Storage', '1.2.840.10008.5.1.4.1.1.481.3'],
    ['RT Plan Storage', '1.2.840.10008.5.1.4.1.1.481.5'],
    ['Comprehensive SR Storage', '1.2.840.10008.5.1.4.1.1.88.33'],
    ['Segmentation Storage', '1.2.840.10008.5.1.4.1.1.66.4'],
    ['Secondary Capture Image Storage', '1.2.840.10008.5.1.4.1.1.7'],
    ['12-lead ECG Waveform Storage', '1.2.840.10008.5.1.4.1.1.9.1.1'],
    ['retired Hardcopy Grayscale Image Storage', '1.2.840.10008.5.1.1.29'],
    ['retired Hardcopy Color Image Storage', '1.2.840.10008.5.1.1.30'],
    ['retired Stored Print Storage', '1.2.840.10008.5.1.1.27'],
    ['a private storage class (Siemens CSA non-image)', '1.3.12.2.1107.5.9.1'],
    ['an unknown class under the standard storage root', '1.2.840.10008.5.1.4.1.1.999'],
    ['an unknown UUID-derived class', '2.25.123456789012345678901234567890'],
  ])('accepts %s', (_name, uid) => {
    expect(isAcceptedAbstractSyntax(uid)).toBe(true);
  });

  it.each([
    ['Patient Root Q/R FIND', '1.2.840.10008.5.1.4.1.2.1.1'],
    ['Patient Root Q/R MOVE', '1.2.840.10008.5.1.4.1.2.1.2'],
    ['Study Root Q/R FIND', '1.2.840.10008.5.1.4.1.2.2.1'],
    ['Study Root Q/R MOVE', '1.2.840.10008.5.1.4.1.2.2.2'],
    ['Study Root Q/R GET', '1.2.840.10008.5.1.4.1.2.2.3'],
    ['Composite Instance Root Retrieve MOVE', '1.2.840.10008.5.1.4.1.2.4.2'],
    ['Modality Worklist FIND', '1.2.840.10008.5.1.4.31'],
    ['General Purpose Worklist FIND (retired)', '1.2.840.10008.5.1.4.32.1'],
    ['Instance Availability Notification', '1.2.840.10008.5.1.4.33'],
    ['UPS Push', '1.2.840.10008.5.1.4.34.6.1'],
    ['Hanging Protocol FIND', '1.2.840.10008.5.1.4.38.2'],
    ['Color Palette MOVE', '1.2.840.10008.5.1.4.39.3'],
    ['Implant Template GET', '1.2.840.10008.5.1.4.43.4'],
    ['Modality Performed Procedure Step', '1.2.840.10008.3.1.2.3.3'],
    ['MPPS Notification', '1.2.840.10008.3.1.2.3.5'],
    ['Storage Commitment Push Model', '1.2.840.10008.1.20.1'],
    ['Storage Commitment Pull Model (retired)', '1.2.840.10008.1.20.2'],
    ['Procedural Event Logging', '1.2.840.10008.1.40'],
    ['Basic Film Session', '1.2.840.10008.5.1.1.1'],
    ['Basic Grayscale Print Management Meta', '1.2.840.10008.5.1.1.9'],
    ['Basic Color Print Management Meta', '1.2.840.10008.5.1.1.18'],
    ['Printer', '1.2.840.10008.5.1.1.16'],
    ['Print Job', '1.2.840.10008.5.1.1.14'],
  ])('refuses %s', (_name, uid) => {
    expect(isAcceptedAbstractSyntax(uid)).toBe(false);
  });

  it.each([
    ['an empty UID', ''],
    ['a UID with letters', '1.2.abc'],
    ['a UID with a trailing dot', '1.2.3.'],
    ['a UID longer than 64 characters', `1.${'2'.repeat(64)}`],
  ])('refuses %s', (_name, uid) => {
    expect(isAcceptedAbstractSyntax(uid)).toBe(false);
  });
});
