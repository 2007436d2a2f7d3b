//! Java regular expressions (DicomEdit's `~` and `!~`) on JavaScript's engine.
// DicomEdit tests `value.matches(regex)`: the whole value must match, so we anchor the pattern.
// The two dialects agree on the common syntax; where they differ, JavaScript either rejects the
// pattern (possessive quantifiers, atomic groups) or, worse, silently reads it another way. We
// reject the silent ones: `\A \Z \z \G \Q \E \p \P \h \H \R \X` and class intersection `&&`. A
// leading `(?i)`, `(?m)`, `(?s)` becomes a JavaScript flag.

const JAVA_ONLY_ESCAPES = new Set('AZzGQEpPhHRX');

/** A whole-value matcher; throws an Error saying why the pattern is not usable. */
export function compileJavaRegex(source: string): RegExp {
  const lead = /^\(\?([A-Za-z]+)\)/.exec(source);
  const flags = new Set<string>();
  for (const f of lead?.[1] ?? '') {
    if (!'ims'.includes(f)) {
      throw new Error(`the regex flag (?${f}) is not supported`);
    }
    flags.add(f);
  }
  const body = source.slice(lead?.[0].length ?? 0);
  const javaOnly = javaOnlySyntax(body);
  if (javaOnly !== undefined) {
    throw new Error(`the Java-only regex syntax ${javaOnly} is not supported`);
  }
  try {
    return new RegExp(`^(?:${body})$`, [...flags].join(''));
  } catch {
    // The engine's message quotes the pattern, which may come from an element: keep it out.
    throw new Error('not a valid regular expression');
  }
}

function javaOnlySyntax(body: string): string | undefined {
  let inClass = false;
  for (let i = 0; i < body.length; i++) {
    const c = body.charAt(i);
    if (c === '\\') {
      const e = body.charAt(i + 1);
      if (JAVA_ONLY_ESCAPES.has(e)) {
        return `\\${e}`;
      }
      i++;
    } else if (c === '[') {
      inClass = true;
    } else if (c === ']') {
      inClass = false;
    } else if (inClass && body.startsWith('&&', i)) {
      return '&&';
    }
  }
  return undefined;
}
