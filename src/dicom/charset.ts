//! The Charset interface: how the text values of a dataset decode to Unicode and encode back.
// Which set a dataset uses is named by its Specific Character Set (specific-character-set.ts); the
// sets themselves are in charset-single-byte.ts and charset-iso2022.ts.

/** A dataset's character set as the anonymiser uses it. */
export interface Charset {
  /** The defined terms it was built from (for messages and tests). */
  readonly terms: readonly string[];
  /** The terms as one string: a cheap key for caches of decoded values. */
  readonly id: string;
  /** Decodes the bytes of one character-string value (PN, LO, SH, ST, LT, UT, UC). */
  decode(bytes: Buffer): string;
  /** Encodes text for a value, or null when this set cannot carry it (callers then write ASCII). */
  encode(text: string): Buffer | null;
  /**
   * Text that contains, as a substring, the decoding of every value found in `bytes` (a whole
   * header): for a prefilter that must never miss a value. Null when no such text can be made
   * cheaply (stateful ISO 2022 and double-byte sets): every needle must then be searched per value.
   */
  haystack(bytes: Buffer): string | null;
}

/** Every UTF-16 unit of `t` is at most `max`. */
export function below(t: string, max: number): boolean {
  for (let i = 0; i < t.length; i++) {
    if (t.charCodeAt(i) > max) {
      return false;
    }
  }
  return true;
}
export const isAscii = (t: string): boolean => below(t, 0x7f);
