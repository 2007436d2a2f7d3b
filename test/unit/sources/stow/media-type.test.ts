import { describe, expect, it } from 'vitest';
import { negotiate, parseMediaType } from '../../../../src/sources/stow/media-type.ts';

describe('parseMediaType', () => {
  it('reads the essence and parameters, quoted or not, case-insensitively', () => {
    const t = parseMediaType('Multipart/Related; type="application/dicom"; boundary=abc; Start="<x;y>"');
    expect(t?.essence).toBe('multipart/related');
    expect(Object.fromEntries(t?.params ?? [])).toEqual({ type: 'application/dicom', boundary: 'abc', start: '<x;y>' });
    expect(parseMediaType('multipart/related;boundary="a \\"b\\""')?.params.get('boundary')).toBe('a "b"');
  });

  it('returns null for what is not a media type', () => {
    for (const bad of [undefined, '', 'multipart', 'a/b/c', 'text/plain; =x', 'text/plain; junk']) {
      expect(parseMediaType(bad)).toBeNull();
    }
  });
});

describe('negotiate', () => {
  const offers = ['application/dicom+json', 'application/json', 'application/dicom+xml'];
  it.each([
    [undefined, 'application/dicom+json'],
    ['', 'application/dicom+json'],
    ['*/*', 'application/dicom+json'],
    ['application/dicom+xml', 'application/dicom+xml'],
    ['application/dicom+xml, application/dicom+json;q=0.5', 'application/dicom+xml'],
    ['application/*;q=0.2, application/json', 'application/json'],
    ['application/dicom+json;q=0, */*', 'application/json'],
    ['text/html', null],
    ['text/*, application/dicom+json;q=0', null],
  ])('Accept %s → %s', (accept, expected) => {
    expect(negotiate(accept, offers)).toBe(expected);
  });
});
