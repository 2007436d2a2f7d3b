//! The part of java.text.MessageFormat that DicomEdit's `format[pattern, …]` relies on.
// Arguments are always strings there, so only `{n}` placeholders matter. Quoting follows Java:
// `'…'` is literal text and `''` is one quote. A typed placeholder such as `{0,number}` is rejected
// (strings would not format as numbers anyway), and so are unmatched braces, as Java does.

type Part = string | number;

/** The pattern's literal text and argument indexes; throws an Error when Java would. */
export function parseMessageFormat(pattern: string): Part[] {
  const parts: Part[] = [];
  let text = '';
  let quoted = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern.charAt(i);
    if (c === "'") {
      if (pattern.charAt(i + 1) === "'") {
        text += "'";
        i++;
      } else {
        quoted = !quoted;
      }
    } else if (c === '{' && !quoted) {
      const close = pattern.indexOf('}', i);
      if (close < 0) {
        throw new Error('unmatched braces in the format pattern');
      }
      const index = pattern.slice(i + 1, close);
      if (!/^\d+$/.test(index)) {
        throw new Error(`unsupported placeholder {${index}}: only {0}, {1}, … are supported`);
      }
      parts.push(text, Number(index));
      text = '';
      i = close;
    } else {
      text += c;
    }
  }
  parts.push(text);
  return parts;
}

/** Fills the placeholders; one past the arguments stays as written (`{3}`), as in Java. */
export function formatMessage(pattern: string, args: readonly string[]): string {
  return parseMessageFormat(pattern)
    .map((p) => (typeof p === 'string' ? p : (args[p] ?? `{${String(p)}}`)))
    .join('');
}
