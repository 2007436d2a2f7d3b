//! Expressions in DicomEdit 6 scripts: operands, values, function calls and conditions.
// The value half of DicomEdit's DE6Parser.g4, used by the statement parser (parser.ts). Each
// operand is checked where it is used: a value names one element, a call has the right arguments.
import type { CallExpr, CompareOp, Condition, Expr, ParamKind } from './ast.ts';
import { describe, expectPunct, isPunct, next, peek, type State } from './cursor.ts';
import { ScriptError, type Pos } from './errors.ts';
import { FUNCTIONS, unsupportedFunction } from './functions.ts';
import { parsePath, parsePathText } from './parse-path.ts';
import { compileJavaRegex } from './regex.ts';
import { isSingular } from './tags.ts';

/** Words that begin a statement or label a variable: never a variable's name. */
export const KEYWORDS = new Set([
  'version',
  'describe',
  'export',
  'echo',
  'removeAllPrivateTags',
  'if',
  'elseif',
  'else',
  'hidden',
  'const',
  'immutable',
]);
const COMPARE = new Set<string>(['=', '!=', '~', '!~']);

/** The rest of a condition whose first operand is parsed: `value op value`, or a test function. */
export function finishCondition(s: State, left: Expr): Condition {
  const op = peek(s);
  if (op.kind === 'punct' && COMPARE.has(op.text)) {
    next(s);
    checkValue(left);
    const right = parseValue(s);
    const compare = { kind: 'compare' as const, op: op.text as CompareOp, left, right, at: left.at };
    if ((compare.op === '~' || compare.op === '!~') && right.kind === 'string') {
      try {
        return { ...compare, regex: compileJavaRegex(right.value) };
      } catch (err) {
        throw new ScriptError(`bad regex ${JSON.stringify(right.value)}: ${(err as Error).message}`, right.at);
      }
    }
    return compare;
  }
  if (left.kind === 'call' && left.fn.returns === 'boolean') {
    return { kind: 'test', call: left, at: left.at };
  }
  throw new ScriptError(`expected a condition operator (= != ~ !~), found ${describe(op)}`, op.at);
}

/** A value whose use is checked by the caller: literal, variable, tag path or function call. */
export function parseOperand(s: State): Expr {
  const t = peek(s);
  if (t.kind === 'string') {
    next(s);
    return { kind: 'string', value: t.value, at: t.at };
  }
  if (t.kind === 'number') {
    next(s);
    return { kind: 'number', text: t.text, at: t.at };
  }
  if (t.kind === 'tag' || isPunct(t, '*', '+', '.')) {
    return { kind: 'path', path: parsePath(s), at: t.at };
  }
  if (t.kind === 'id' && !KEYWORDS.has(t.text)) {
    next(s);
    return isPunct(peek(s), '[') ? parseCall(s, t.text, t.at) : { kind: 'variable', name: t.text, at: t.at };
  }
  if (isPunct(t, '{')) {
    throw new ScriptError('lists ({…}) are not supported', t.at);
  }
  throw new ScriptError(`expected a value, found ${describe(t)}`, t.at);
}

/** An operand used as a value: one element at most, and a function that returns a value. */
export function parseValue(s: State): Expr {
  const e = parseOperand(s);
  checkValue(e);
  return e;
}

function checkValue(e: Expr): void {
  if (e.kind === 'path' && !isSingular(e.path)) {
    throw new ScriptError('a tag path used as a value must name one element: no wildcards, no item at the end', e.at);
  }
  if (e.kind === 'call' && e.fn.returns !== 'string') {
    throw new ScriptError(`${e.name}[] does not return a value`, e.at);
  }
}

function parseCall(s: State, name: string, at: Pos): CallExpr {
  next(s); // '['
  const args: Expr[] = [];
  if (!isPunct(peek(s), ']')) {
    args.push(parseOperand(s));
    while (isPunct(peek(s), ',')) {
      next(s);
      args.push(parseOperand(s));
    }
  }
  expectPunct(s, ']', `to close the arguments of ${name}[`);
  const fn = FUNCTIONS.get(name);
  if (!fn) {
    throw new ScriptError(unsupportedFunction(name), at);
  }
  if (args.length < fn.minArgs || args.length > fn.maxArgs) {
    const range =
      fn.maxArgs === Infinity
        ? `at least ${String(fn.minArgs)}`
        : fn.minArgs === fn.maxArgs
          ? String(fn.minArgs)
          : `${String(fn.minArgs)} to ${String(fn.maxArgs)}`;
    throw new ScriptError(`${name}[] takes ${range} argument(s), not ${String(args.length)}`, at);
  }
  const params = fn.params ?? ['value'];
  const checked = args.map((a, i) => checkArg(name, a, params[Math.min(i, params.length - 1)] ?? 'value'));
  const problem = fn.check?.(checked);
  if (problem) {
    throw new ScriptError(`${name}[]: ${problem.message}`, problem.at);
  }
  return { kind: 'call', name, fn, args: checked, at };
}

function checkArg(name: string, a: Expr, kind: ParamKind): Expr {
  if (kind === 'value') {
    checkValue(a);
    return a;
  }
  if (a.kind === 'path') {
    return a;
  }
  if (kind === 'pathText' && a.kind === 'string') {
    return { kind: 'path', path: parsePathText(a.value, a.at), at: a.at };
  }
  throw new ScriptError(
    `${name}[] expects a tag path${kind === 'pathText' ? ' (or a string holding one)' : ''} here`,
    a.at,
  );
}
