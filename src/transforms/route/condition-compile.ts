//! Compiles the conditions of the YAML rules file from located YAML values.
// The compiler reports every problem with the line of the node that caused it and keeps going, so
// one load lists all the mistakes of a rules file.
import { formatTag, keywordOf, tagOfKeyword } from '../../dicom/dictionary.ts';
import type { Condition, LeafTest } from './conditions.ts';

/** A YAML value with the 1-based line it starts on, so every problem can name its line. */
export type Located =
  | { readonly kind: 'scalar'; readonly line: number; readonly value: unknown }
  | { readonly kind: 'list'; readonly line: number; readonly items: readonly Located[] }
  | { readonly kind: 'map'; readonly line: number; readonly entries: readonly LocatedEntry[] };

export interface LocatedEntry {
  readonly key: string;
  readonly keyLine: number;
  readonly value: Located;
}

/** Records one problem at a line of the file being compiled. */
export type Report = (line: number, message: string) => void;

const OPERATORS = ['equals', 'oneOf', 'regex', 'present', 'missing', 'lt', 'le', 'gt', 'ge'] as const;
type Operator = (typeof OPERATORS)[number];
const TEXT_OPERATORS: readonly Operator[] = ['equals', 'oneOf', 'regex'];
// Decimal strings as DICOM writes them (DS, IS, and binary numbers rendered by the view); anything
// else, hex included, is not a number and never satisfies lt/le/gt/ge.
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
const TAG = /^[0-9A-Fa-f]{4},[0-9A-Fa-f]{4}$/;

/** Compiles one condition; null (with problems reported) when it does not validate. */
export function compileCondition(node: Located, report: Report): Condition | null {
  if (node.kind !== 'map') {
    report(
      node.line,
      'a condition must be a mapping: {attribute, <operator>}, {all: [...]}, {any: [...]} or {not: ...}',
    );
    return null;
  }
  const combinator = node.entries.find((e) => e.key === 'all' || e.key === 'any' || e.key === 'not');
  if (!combinator) {
    return compileLeaf(node.line, node.entries, report);
  }
  if (node.entries.length > 1) {
    report(node.line, `"${combinator.key}" must be the only key of its condition`);
    return null;
  }
  if (combinator.key === 'not') {
    const of = compileCondition(combinator.value, report);
    return of ? { kind: 'not', of } : null;
  }
  const list = combinator.value;
  if (list.kind !== 'list' || list.items.length === 0) {
    report(list.line, `"${combinator.key}" takes a non-empty list of conditions`);
    return null;
  }
  // Compile every item even after a failure, so all their problems are reported at once.
  const of = list.items.map((item) => compileCondition(item, report));
  return of.every((c) => c !== null) ? { kind: combinator.key === 'all' ? 'all' : 'any', of } : null;
}

function compileLeaf(line: number, entries: readonly LocatedEntry[], report: Report): Condition | null {
  let attribute: { tag: number; name: string } | null = null;
  let ignoreCase = false;
  let ok = true;
  const operators: LocatedEntry[] = [];
  for (const e of entries) {
    if (e.key === 'attribute') {
      attribute = resolveAttribute(e.value, report);
      ok &&= attribute !== null;
    } else if (e.key === 'ignoreCase') {
      if (e.value.kind === 'scalar' && typeof e.value.value === 'boolean') {
        ignoreCase = e.value.value;
      } else {
        report(e.value.line, 'ignoreCase takes true or false');
        ok = false;
      }
    } else if ((OPERATORS as readonly string[]).includes(e.key)) {
      operators.push(e);
    } else {
      report(
        e.keyLine,
        `unknown key "${e.key}" in a condition (expected attribute, ignoreCase, one of ${OPERATORS.join(', ')}, or all, any, not)`,
      );
      ok = false;
    }
  }
  if (!entries.some((e) => e.key === 'attribute')) {
    report(line, 'a condition needs "attribute" (a DICOM keyword or "gggg,eeee"), or one of all, any, not');
    ok = false;
  }
  const [op, second] = operators;
  if (!op) {
    report(line, `a condition needs one operator: ${OPERATORS.join(', ')}`);
    return null;
  }
  if (second) {
    report(second.keyLine, `a condition takes one operator, found ${operators.map((e) => e.key).join(' and ')}`);
    return null;
  }
  const operator = op.key as Operator;
  if (ignoreCase && !TEXT_OPERATORS.includes(operator)) {
    report(op.keyLine, `ignoreCase applies only to ${TEXT_OPERATORS.join(', ')}`);
    ok = false;
  }
  const test = compileOperator(operator, op.value, ignoreCase, report);
  return ok && test && attribute ? { kind: 'leaf', tag: attribute.tag, attribute: attribute.name, test } : null;
}

function resolveAttribute(node: Located, report: Report): { tag: number; name: string } | null {
  if (node.kind !== 'scalar' || typeof node.value !== 'string') {
    report(node.line, 'attribute must be a DICOM keyword or "gggg,eeee"');
    return null;
  }
  const text = node.value.trim();
  if (TAG.test(text)) {
    // Tags outside the dictionary (private ones) are allowed; reasons then name them "(gggg,eeee)".
    const tag = parseInt(text.replace(',', ''), 16) >>> 0;
    return { tag, name: keywordOf(tag) ?? formatTag(tag) };
  }
  const tag = tagOfKeyword(text);
  if (tag === undefined) {
    report(
      node.line,
      `unknown attribute keyword "${text}" (a DICOM keyword such as ManufacturerModelName, or "gggg,eeee")`,
    );
    return null;
  }
  return { tag, name: text };
}

function compileOperator(op: Operator, node: Located, ignoreCase: boolean, report: Report): LeafTest | null {
  switch (op) {
    case 'equals': {
      const accepts = textOrNumber(node, ignoreCase, 'equals takes a string or a number', report);
      return accepts ? { mode: 'value', accepts } : null;
    }
    case 'oneOf':
      return compileOneOf(node, ignoreCase, report);
    case 'regex':
      return compileRegex(node, ignoreCase, report);
    case 'present':
    case 'missing':
      if (node.kind !== 'scalar' || node.value !== true) {
        report(
          node.line,
          `${op} takes only true (use ${op === 'present' ? 'missing' : 'present'}: true for the opposite)`,
        );
        return null;
      }
      return { mode: op };
    case 'lt':
    case 'le':
    case 'gt':
    case 'ge':
      return compileCompare(op, node, report);
  }
}

function compileOneOf(node: Located, ignoreCase: boolean, report: Report): LeafTest | null {
  if (node.kind !== 'list' || node.items.length === 0) {
    report(node.line, 'oneOf takes a non-empty list of strings or numbers');
    return null;
  }
  const tests = node.items.map((item) =>
    textOrNumber(item, ignoreCase, 'oneOf items must be strings or numbers', report),
  );
  if (!tests.every((t) => t !== null)) {
    return null;
  }
  return { mode: 'value', accepts: (v) => tests.some((t) => t(v)) };
}

function compileRegex(node: Located, ignoreCase: boolean, report: Report): LeafTest | null {
  if (node.kind !== 'scalar' || typeof node.value !== 'string') {
    report(node.line, 'regex takes a string');
    return null;
  }
  try {
    const re = new RegExp(node.value, ignoreCase ? 'ui' : 'u');
    return { mode: 'value', accepts: (v) => re.test(v) };
  } catch (err) {
    report(node.line, `invalid regular expression: ${(err as Error).message}`);
    return null;
  }
}

function compileCompare(op: 'lt' | 'le' | 'gt' | 'ge', node: Located, report: Report): LeafTest | null {
  if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isFinite(node.value)) {
    report(node.line, `${op} takes a finite number`);
    return null;
  }
  const limit = node.value;
  const holds = {
    lt: (n: number) => n < limit,
    le: (n: number) => n <= limit,
    gt: (n: number) => n > limit,
    ge: (n: number) => n >= limit,
  }[op];
  return { mode: 'value', accepts: (v) => NUMBER.test(v) && holds(Number(v)) };
}

// A YAML number compares numerically ("5.0" equals 5); a string compares as text. Quote a number
// ("0123") to compare it as text.
function textOrNumber(
  node: Located,
  ignoreCase: boolean,
  message: string,
  report: Report,
): ((v: string) => boolean) | null {
  if (node.kind === 'scalar' && typeof node.value === 'number' && Number.isFinite(node.value)) {
    const n = node.value;
    return (v) => NUMBER.test(v) && Number(v) === n;
  }
  if (node.kind === 'scalar' && typeof node.value === 'string') {
    const s = node.value;
    if (ignoreCase) {
      const lower = s.toLowerCase();
      return (v) => v.toLowerCase() === lower;
    }
    return (v) => v === s;
  }
  report(node.line, message);
  return null;
}
