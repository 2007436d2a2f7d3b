import { describe, expect, it } from 'vitest';
import { encodingOf, isStorableTransferSyntax, TS } from '../../../src/dicom/transfer-syntax.ts';

describe('transfer syntaxes', () => {
  it('knows how the uncompressed and deflated syntaxes are encoded', () => {
    expect(encodingOf(TS.ImplicitLE)).toEqual({ explicitVr: false, littleEndian: true, deflated: false });
    expect(encodingOf(TS.ExplicitLE)).toEqual({ explicitVr: true, littleEndian: true, deflated: false });
    expect(encodingOf(TS.ExplicitBE)).toEqual({ explicitVr: true, littleEndian: false, deflated: false });
    expect(encodingOf(TS.DeflatedExplicitLE)).toEqual({ explicitVr: true, littleEndian: true, deflated: true });
  });

  it.each([
    ['RLE lossless', '1.2.840.10008.1.2.5'],
    ['JPEG baseline', '1.2.840.10008.1.2.4.50'],
    ['JPEG extended', '1.2.840.10008.1.2.4.51'],
    ['JPEG lossless SV1', '1.2.840.10008.1.2.4.70'],
    ['JPEG-LS lossless', '1.2.840.10008.1.2.4.80'],
    ['JPEG-LS near-lossless', '1.2.840.10008.1.2.4.81'],
    ['JPEG 2000 lossless', '1.2.840.10008.1.2.4.90'],
    ['JPEG 2000', '1.2.840.10008.1.2.4.91'],
    ['JPIP referenced deflate', '1.2.840.10008.1.2.4.95'],
    ['MPEG2 main profile', '1.2.840.10008.1.2.4.100'],
    ['HEVC main 10', '1.2.840.10008.1.2.4.108'],
    ['JPEG XL', '1.2.840.10008.1.2.4.112'],
    ['HTJ2K lossless', '1.2.840.10008.1.2.4.201'],
    ['HTJ2K', '1.2.840.10008.1.2.4.204'],
  ])('stores %s as received, reading its header as explicit VR little endian', (_name, uid) => {
    expect(isStorableTransferSyntax(uid)).toBe(true);
    expect(encodingOf(uid)).toEqual({ explicitVr: true, littleEndian: true, deflated: false });
  });

  it.each([
    ['a private syntax', '1.2.826.0.1.3680043.9.1234.1'],
    ['an unassigned JPEG number', '1.2.840.10008.1.2.4.49'],
    ['an unassigned HTJ2K number', '1.2.840.10008.1.2.4.205'],
    ['a syntax number past the MPEG range', '1.2.840.10008.1.2.4.109'],
    ['a prefix of a real syntax', '1.2.840.10008.1'],
    ['a real syntax with a suffix', '1.2.840.10008.1.2.1.1'],
    ['the empty string', ''],
  ])('refuses %s', (_name, uid) => {
    expect(isStorableTransferSyntax(uid)).toBe(false);
    expect(encodingOf(uid)).toBeNull();
  });
});
