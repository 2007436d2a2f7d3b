//! Recursive-descent parser for DicomEdit 6 scripts: parseScript(text) → Script, or a ScriptError.
// The grammar is DicomEdit's DE6Parser.g4 (statements one per line; `cond ? action : action`;
// `if (…) {…} elseif (…) {…} else {…}`), less what this gateway cannot run. Anything unsupported
// fails here, with its line and column, never later on an instance. Statements are parsed here;
// the values and conditions inside them in expressions.ts.
import { externalVariables, type Branch, type Script, type Statement } from './ast.ts';
import { describe, expectPunct, isPunct, isWord, next, peek, skipNewlines, type State } from './cursor.ts';
import { ScriptError } from './errors.ts';
import { KEYWORDS, finishCondition, parseOperand, parseValue } from './expressions.ts';
import { tokenize, type Token } from './lexer.ts';
import { parsePath } from './parse-path.ts';

export { ScriptError } from './errors.ts';

// XNAT 1.8.10 runs DicomEdit 6.0 to 6.6, and 6.6 reads every earlier 6.x script unchanged.
const VERSION = /^6\.[0-6]$/;

/** Parses a whole script; throws ScriptError for anything it cannot run. */
export function parseScript(text: string): Script {
  const s: State = { toks: tokenize(text), i: 0 };
  skipNewlines(s);
  const first = next(s);
  if (!isWord(first, 'version')) {
    throw new ScriptError('missing version line: a DicomEdit 6 script starts with version "6.x"', first.at);
  }
  const v = next(s);
  if (v.kind !== 'string' || !VERSION.test(v.value)) {
    throw new ScriptError(
      `unsupported version ${v.kind === 'string' ? `"${v.value}"` : describe(v)}: expected "6.0" to "6.6"`,
      v.at,
    );
  }
  expectLineEnd(s, false);
  const statements = parseStatements(s, false);
  return { version: v.value, statements, variables: externalVariables(statements) };
}

/** Statements up to the end of the script, or up to the `}` closing a block; one per line. */
function parseStatements(s: State, inBlock: boolean): Statement[] {
  const out: Statement[] = [];
  for (;;) {
    skipNewlines(s);
    const t = peek(s);
    if (t.kind === 'eof' && inBlock) {
      throw new ScriptError('missing "}" to close the block', t.at);
    }
    if (t.kind === 'eof' || (inBlock && isPunct(t, '}'))) {
      return out;
    }
    const statement = parseStatement(s);
    if (statement) {
      out.push(statement);
    }
    expectLineEnd(s, inBlock);
  }
}

function expectLineEnd(s: State, inBlock: boolean): void {
  const t = peek(s);
  if (t.kind !== 'newline' && t.kind !== 'eof' && !(inBlock && isPunct(t, '}'))) {
    throw new ScriptError(`expected end of line, found ${describe(t)}`, t.at);
  }
}

/** One statement; undefined for `describe` and `export`, which only label variables for XNAT's UI. */
function parseStatement(s: State): Statement | undefined {
  const t = peek(s);
  if (isWord(t, 'version')) {
    throw new ScriptError('the version statement must come first, and only once', t.at);
  }
  if (t.kind === 'id' && (t.text === 'describe' || t.text === 'export')) {
    next(s);
    const name = next(s);
    const label = next(s);
    const flag = t.text === 'describe' && label.kind === 'id' && ['hidden', 'const', 'immutable'].includes(label.text);
    if (name.kind !== 'id' || (label.kind !== 'string' && !flag)) {
      throw new ScriptError(`malformed ${t.text} statement: expected ${t.text} name "label"`, t.at);
    }
    return undefined;
  }
  if (isWord(t, 'if')) {
    return parseIf(s);
  }
  return parseAction(s, true);
}

function endsAction(t: Token): boolean {
  return t.kind === 'newline' || t.kind === 'eof' || isPunct(t, '}', ':');
}

/** An action, or (when allowed) a `condition ? action : action` around actions. */
function parseAction(s: State, allowCondition: boolean): Statement {
  const t = peek(s);
  if (isWord(t, 'echo')) {
    next(s);
    return { kind: 'echo', value: endsAction(peek(s)) ? undefined : parseValue(s), at: t.at };
  }
  if (isWord(t, 'removeAllPrivateTags')) {
    next(s);
    return { kind: 'removeAllPrivateTags', at: t.at };
  }
  if (isPunct(t, '-')) {
    next(s);
    return { kind: 'delete', target: parsePath(s), at: t.at };
  }
  if (t.kind === 'id' && isPunct(peek(s, 1), ':=') && !KEYWORDS.has(t.text)) {
    next(s);
    next(s);
    return { kind: 'define', name: t.text, value: parseValue(s), at: t.at };
  }
  const first = parseOperand(s);
  const op = peek(s);
  if (isPunct(op, ':=', '?=')) {
    if (first.kind !== 'path') {
      throw new ScriptError(`only a tag path can be assigned with ${describe(op)}`, first.at);
    }
    const last = first.path[first.path.length - 1];
    if (last?.kind === 'tag' && last.item !== undefined) {
      throw new ScriptError('cannot assign to a sequence item; name an element inside it', first.at);
    }
    next(s);
    return { kind: 'assign', target: first.path, value: parseValue(s), ifExists: isPunct(op, '?='), at: t.at };
  }
  if (allowCondition && isPunct(op, '=', '!=', '~', '!~', '?')) {
    const when = finishCondition(s, first);
    expectPunct(s, '?', 'after the condition');
    const then = [parseAction(s, false)];
    const otherwise: Statement[] = [];
    if (isPunct(peek(s), ':')) {
      next(s);
      otherwise.push(parseAction(s, false));
    }
    return { kind: 'if', branches: [{ when, then }], otherwise, at: t.at };
  }
  if (first.kind === 'call') {
    return { kind: 'call', call: first, at: t.at };
  }
  throw new ScriptError(`expected ":=", "?=" or a condition after this value, found ${describe(op)}`, op.at);
}

/** `if (c) {…}`, any `elseif (c) {…}`, then an optional `else {…}`; newlines allowed between. */
function parseIf(s: State): Statement {
  const at = next(s).at;
  const branches: Branch[] = [];
  let otherwise: Statement[] = [];
  let keyword = 'if';
  for (;;) {
    if (keyword !== 'else') {
      expectPunct(s, '(', `after ${keyword}`);
      const when = finishCondition(s, parseOperand(s));
      expectPunct(s, ')', 'after the condition');
      branches.push({ when, then: parseBlock(s) });
    } else {
      otherwise = parseBlock(s);
    }
    // Look past blank lines for elseif/else without consuming them if neither follows.
    let ahead = 0;
    while (peek(s, ahead).kind === 'newline') {
      ahead++;
    }
    const follow = peek(s, ahead);
    if (keyword === 'else' || !(isWord(follow, 'elseif') || isWord(follow, 'else'))) {
      return { kind: 'if', branches, otherwise, at };
    }
    s.i += ahead + 1;
    keyword = follow.kind === 'id' ? follow.text : 'else';
  }
}

function parseBlock(s: State): Statement[] {
  skipNewlines(s);
  expectPunct(s, '{', 'to open the block');
  const body = parseStatements(s, true);
  expectPunct(s, '}', 'to close the block');
  return body;
}
