//! Transfer syntaxes the gateway stores exactly as received, and how their datasets are encoded.

export const TS = {
  ImplicitLE: '1.2.840.10008.1.2',
  ExplicitLE: '1.2.840.10008.1.2.1',
  DeflatedExplicitLE: '1.2.840.10008.1.2.1.99',
  ExplicitBE: '1.2.840.10008.1.2.2',
  RLE: '1.2.840.10008.1.2.5',
} as const;

/** How a dataset's elements are encoded on the wire and in the file after group 0002. */
export interface DatasetEncoding {
  readonly explicitVr: boolean;
  readonly littleEndian: boolean;
  readonly deflated: boolean;
}

/**
 * Encapsulated (compressed) syntaxes we can keep byte-for-byte: their header is explicit VR LE,
 * so we can read the series keys; pixel data stays opaque. JPEG family (…4.50–4.81), JPEG 2000
 * (4.90–4.93), JPIP (4.94–4.95), MPEG-2/4 and HEVC (4.100–4.108), JPEG XL (4.110–4.112),
 * HTJ2K (4.201–4.204), plus RLE. Anything else (private syntaxes) we could not parse, so we
 * never accept it in negotiation — the sender falls back to a syntax we do accept.
 */
const ENCAPSULATED = /^1\.2\.840\.10008\.1\.2\.4\.(5[0-9]|6[0-9]|7[0-9]|8[01]|9[0-5]|10[0-8]|11[0-2]|20[1-4])$/;

/** True when datasets in this syntax can be stored as received and their header read. */
export function isStorableTransferSyntax(uid: string): boolean {
  return encodingOf(uid) !== null;
}

/** The element encoding of a transfer syntax, or null when we do not know it. */
export function encodingOf(uid: string): DatasetEncoding | null {
  switch (uid) {
    case TS.ImplicitLE:
      return { explicitVr: false, littleEndian: true, deflated: false };
    case TS.ExplicitLE:
    case TS.RLE:
      return { explicitVr: true, littleEndian: true, deflated: false };
    case TS.DeflatedExplicitLE:
      return { explicitVr: true, littleEndian: true, deflated: true };
    case TS.ExplicitBE:
      return { explicitVr: true, littleEndian: false, deflated: false };
    default:
      return ENCAPSULATED.test(uid) ? { explicitVr: true, littleEndian: true, deflated: false } : null;
  }
}
