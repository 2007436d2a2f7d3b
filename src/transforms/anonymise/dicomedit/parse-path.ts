//! Tag paths: `(gggg,eeee)[n]/…/(gggg,eeee)` with `[%]` items and `*`, `+`, `.` level wildcards.
import { ScriptError, type Pos } from './errors.ts';
import { tokenize } from './lexer.ts';
import { describe, expectPunct, isPunct, next, peek, type State } from './cursor.ts';
import type { PathPattern, PatternStep } from './tags.ts';

/** Steps separated by `/`: `(gggg,eeee)`, optionally `[n]` or `[%]`, or a level wildcard `*`, `+`, `.`. */
export function parsePath(s: State): PathPattern {
  const steps: PatternStep[] = [];
  for (;;) {
    const t = next(s);
    if (t.kind === 'tag') {
      let item: number | 'any' | undefined;
      if (isPunct(peek(s), '[')) {
        next(s);
        const n = next(s);
        if (isPunct(n, '%')) {
          item = 'any';
        } else if (n.kind === 'number' && /^\d+$/.test(n.text)) {
          item = Number(n.text);
        } else {
          throw new ScriptError(`expected an item number or % in [ ], found ${describe(n)}`, n.at);
        }
        expectPunct(s, ']', 'after the item');
      }
      steps.push(item === undefined ? { kind: 'tag', tag: t.tag } : { kind: 'tag', tag: t.tag, item });
    } else if (t.kind === 'punct' && (t.text === '*' || t.text === '+' || t.text === '.')) {
      steps.push({ kind: 'levels', symbol: t.text });
    } else {
      throw new ScriptError(`expected a tag, found ${describe(t)}`, t.at);
    }
    if (!isPunct(peek(s), '/')) {
      break;
    }
    next(s);
  }
  if (steps[steps.length - 1]?.kind !== 'tag') {
    throw new ScriptError('a tag path must end with a tag', peek(s).at);
  }
  return steps;
}

/** A tag path written inside a string (mapReferencedUIDs); errors point at the string. */
export function parsePathText(text: string, at: Pos): PathPattern {
  try {
    const s: State = { toks: tokenize(text), i: 0 };
    const path = parsePath(s);
    const rest = peek(s);
    if (rest.kind !== 'eof') {
      throw new ScriptError(`unexpected ${describe(rest)} after the tag path`, rest.at);
    }
    return path;
  } catch (err) {
    const reason = err instanceof ScriptError ? err.reason : String(err);
    throw new ScriptError(`in the tag path ${JSON.stringify(text)}: ${reason}`, at);
  }
}
