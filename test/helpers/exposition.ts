//! Test helper: checks a Prometheus 0.0.4 text body line by line against the exposition grammar.
const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*';
const LABEL = '[a-zA-Z_][a-zA-Z0-9_]*="(?:\\\\[\\\\"n]|[^"\\\\\\n])*"';
const VALUE = '(?:NaN|[+-]Inf|[+-]?(?:\\d+\\.?\\d*|\\.\\d+)(?:[eE][+-]?\\d+)?)';
export const SAMPLE = new RegExp(`^(${NAME})(?:\\{(?:${LABEL}(?:,${LABEL})*)?\\})? ${VALUE}(?: -?\\d+)?$`);
const HELP = new RegExp(`^# HELP (${NAME}) (?:[^\\\\\\n]|\\\\[\\\\n])*$`);
const TYPE = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`);

/** Returns the problems found (empty when valid) and the sample values keyed by their series text. */
export function parseExposition(body: string): { problems: string[]; samples: Map<string, number> } {
  const problems: string[] = [];
  const samples = new Map<string, number>();
  const helped = new Set<string>();
  const typed = new Set<string>();
  if (!body.endsWith('\n')) {
    problems.push('body does not end with a newline');
  }
  for (const line of body.split('\n').slice(0, -1)) {
    const h = HELP.exec(line);
    const t = TYPE.exec(line);
    const s = SAMPLE.exec(line);
    if (h?.[1]) {
      helped.add(h[1]);
    } else if (t?.[1]) {
      typed.add(t[1]);
    } else if (s?.[1]) {
      if (!helped.has(s[1]) || !typed.has(s[1])) {
        problems.push(`sample before HELP/TYPE: ${line}`);
      }
      const cut = line.lastIndexOf(' ');
      samples.set(line.slice(0, cut), Number(line.slice(cut + 1).replace('Inf', 'Infinity')));
    } else {
      problems.push(`not in the grammar: ${JSON.stringify(line)}`);
    }
  }
  for (const n of typed) {
    if (!helped.has(n)) {
      problems.push(`TYPE without HELP: ${n}`);
    }
  }
  for (const n of helped) {
    if (!typed.has(n)) {
      problems.push(`HELP without TYPE: ${n}`);
    }
  }
  return { problems, samples };
}
