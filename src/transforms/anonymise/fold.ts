//! How identifying values and element values are compared: Unicode NFKC, then upper case.
// Shared by verification, its prefilter and cleaning, so all three see the same characters.

// eslint-disable-next-line no-control-regex -- the ASCII range, by definition control characters included.
export const NON_ASCII = /[^\x00-\x7f]/;

/**
 * Characters NFKC leaves alone on their own, that no other character composes with: the Latin-1
 * characters that are stable (most of them: ª, ², ¼, NBSP … are not) and U+FFFD, which the
 * decoders put for bytes of binary values. Computed, not listed.
 */
const STABLE = ((): Uint8Array => {
  const t = new Uint8Array(256);
  for (let c = 0; c < 256; c++) {
    const ch = String.fromCharCode(c);
    t[c] = ch.normalize('NFKC') === ch && ch.normalize('NFD') === ch ? 1 : 0;
  }
  return t;
})();

function stable(code: number): boolean {
  return code < 256 ? STABLE[code] === 1 : code === 0xfffd;
}

/**
 * NFKC, then upper case: how values and needles are compared (per character, so substrings
 * survive it). Only runs of characters NFKC may change are normalised, each with the character
 * before it (a combining mark composes with it): the result is NFKC's, and a header that is
 * mostly ASCII and binary bytes costs a few short normalisations instead of one long one.
 */
export function fold(s: string): string {
  if (!NON_ASCII.test(s)) {
    return s.toUpperCase();
  }
  let out = '';
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (stable(s.charCodeAt(i))) {
      continue;
    }
    let j = i + 1;
    while (j < s.length && !stable(s.charCodeAt(j))) {
      j++;
    }
    const start = i > from ? i - 1 : i;
    out += s.slice(from, start) + s.slice(start, j).normalize('NFKC');
    from = j;
    i = j - 1;
  }
  return (out + s.slice(from)).toUpperCase();
}
