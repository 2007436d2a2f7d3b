//! The YAML rules file of the `route` transform: ordered, named rules over any attribute.
// Format (docs/routing.md):
//   version: 1
//   default: hospital            # or quarantine: what an instance no rule matched gets (default hospital)
//   rules:
//     - name: aera-localisers    # unique, /^[a-z0-9][a-z0-9-]*$/
//       when: { attribute: ManufacturerModelName, equals: Aera }
//       then: quarantine         # or hospital
//       reason: Aera localisers carry the patient name   # optional, shown in reasons
// The YAML tree is first turned into Located values (every node with its line), so the validation
// below and in condition-compile.ts can name the line of every problem without knowing the yaml library.
import { isAlias, isMap, isScalar, isSeq, LineCounter, parseDocument } from 'yaml';
import { compileCondition, type Located, type LocatedEntry, type Report } from './condition-compile.ts';
import type { Condition } from './conditions.ts';
import type { Target } from './types.ts';

/** One validated rule. */
export interface Rule {
  readonly name: string;
  /** 1-based line of the rule's first key in the file. */
  readonly line: number;
  readonly when: Condition;
  readonly then: Target;
  /** The operator's free text, or null. */
  readonly reason: string | null;
}

/** A validated rules file. */
export interface RulesFile {
  readonly path: string;
  /** What an instance that no rule matched gets; 'hospital' when the file does not say. */
  readonly default: Target;
  /** Line of the `default:` key, null when absent. */
  readonly defaultLine: number | null;
  readonly rules: readonly Rule[];
}

const NAME = /^[a-z0-9][a-z0-9-]*$/;
const TOP_KEYS = ['version', 'default', 'rules'];
const RULE_KEYS = ['name', 'when', 'then', 'reason'];

/**
 * Parses and validates a rules file. Every problem is appended to `problems` as `${path} line N: …`;
 * the result is null when there was any.
 */
export function parseRulesFile(path: string, text: string, problems: string[]): RulesFile | null {
  const before = problems.length;
  const report: Report = (line, message) => problems.push(`${path} line ${String(line)}: ${message}`);
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  const lineAt = (offset: number): number => lineCounter.linePos(offset).line;
  for (const e of doc.errors) {
    // Some yaml messages append a source excerpt after a newline; the line number says where.
    report(lineAt(e.pos[0]), `invalid YAML: ${e.message.split('\n')[0] ?? e.message}`);
  }
  if (doc.errors.length > 0) {
    return null;
  }
  const root = locate(doc.contents, 1, lineAt, report);
  if (root?.kind !== 'map') {
    report(root?.line ?? 1, 'the rules file must be a mapping with version: 1 and rules: [...]');
    return null;
  }
  const result = readTop(path, root, report);
  return problems.length === before ? result : null;
}

function readTop(path: string, root: Located & { kind: 'map' }, report: Report): RulesFile {
  unknownKeys(root.entries, TOP_KEYS, 'at the top level', report);
  const version = entry(root, 'version');
  if (!version) {
    report(root.line, 'missing "version: 1"');
  } else if (version.value.kind !== 'scalar' || version.value.value !== 1) {
    report(version.value.line, 'version must be 1');
  }
  const dflt = entry(root, 'default');
  const target = dflt ? readTarget(dflt.value, 'default', report) : 'hospital';
  const list = entry(root, 'rules');
  const rules: Rule[] = [];
  if (!list) {
    report(root.line, 'missing "rules:" (a list, possibly empty: rules: [])');
  } else if (list.value.kind !== 'list') {
    report(list.value.line, 'rules must be a list');
  } else {
    const seen = new Map<string, number>();
    for (const item of list.value.items) {
      const rule = readRule(item, seen, report);
      if (rule) {
        rules.push(rule);
      }
    }
  }
  return { path, default: target ?? 'hospital', defaultLine: dflt?.keyLine ?? null, rules };
}

function readRule(node: Located, seen: Map<string, number>, report: Report): Rule | null {
  if (node.kind !== 'map') {
    report(node.line, 'a rule must be a mapping with name, when, then and optionally reason');
    return null;
  }
  unknownKeys(node.entries, RULE_KEYS, 'in a rule', report);
  const name = readName(node, seen, report);
  const whenEntry = entry(node, 'when');
  const when = whenEntry ? compileCondition(whenEntry.value, report) : null;
  if (!whenEntry) {
    report(node.line, 'a rule needs "when" (its condition)');
  }
  const thenEntry = entry(node, 'then');
  const then = thenEntry ? readTarget(thenEntry.value, 'then', report) : null;
  if (!thenEntry) {
    report(node.line, 'a rule needs "then: hospital" or "then: quarantine"');
  }
  const reasonEntry = entry(node, 'reason');
  let reason: string | null = null;
  if (reasonEntry) {
    const v = reasonEntry.value;
    if (v.kind === 'scalar' && typeof v.value === 'string' && v.value.trim() !== '') {
      reason = v.value.trim();
    } else {
      report(v.line, 'reason must be non-empty text');
    }
  }
  return name !== null && when && then ? { name, line: node.line, when, then, reason } : null;
}

function readName(node: Located & { kind: 'map' }, seen: Map<string, number>, report: Report): string | null {
  const e = entry(node, 'name');
  if (!e) {
    report(node.line, 'a rule needs "name"');
    return null;
  }
  const v = e.value;
  if (v.kind !== 'scalar' || typeof v.value !== 'string' || !NAME.test(v.value)) {
    report(v.line, 'name must be lower-case letters, digits and "-", starting with a letter or digit');
    return null;
  }
  const first = seen.get(v.value);
  if (first !== undefined) {
    report(v.line, `duplicate rule name "${v.value}" (first on line ${String(first)})`);
    return null;
  }
  seen.set(v.value, v.line);
  return v.value;
}

function readTarget(node: Located, key: string, report: Report): Target | null {
  if (node.kind === 'scalar' && (node.value === 'hospital' || node.value === 'quarantine')) {
    return node.value;
  }
  report(node.line, `${key} must be hospital or quarantine`);
  return null;
}

function entry(node: Located & { kind: 'map' }, key: string): LocatedEntry | undefined {
  return node.entries.find((e) => e.key === key);
}

function unknownKeys(
  entries: readonly LocatedEntry[],
  allowed: readonly string[],
  where: string,
  report: Report,
): void {
  for (const e of entries) {
    if (!allowed.includes(e.key)) {
      report(e.keyLine, `unknown key "${e.key}" ${where} (expected ${allowed.join(', ')})`);
    }
  }
}

/**
 * The yaml node as a Located value. An empty value (`when:` with nothing after it) becomes a null
 * scalar on its key's line. Aliases are refused: a rule should read the same wherever it is.
 */
function locate(
  node: unknown,
  fallbackLine: number,
  lineAt: (offset: number) => number,
  report: Report,
): Located | null {
  const lineOf = (n: { range?: readonly number[] | null | undefined }): number =>
    n.range?.[0] === undefined ? fallbackLine : lineAt(n.range[0]);
  if (node === null || node === undefined) {
    return { kind: 'scalar', line: fallbackLine, value: null };
  }
  if (isMap(node)) {
    const entries: LocatedEntry[] = [];
    for (const pair of node.items) {
      const key = pair.key;
      const keyLine = isScalar(key) ? lineOf(key) : lineOf(node);
      if (!isScalar(key) || typeof key.value !== 'string') {
        report(keyLine, 'keys must be plain text');
        continue;
      }
      const value = locate(pair.value, keyLine, lineAt, report);
      if (value) {
        entries.push({ key: key.value, keyLine, value });
      }
    }
    return { kind: 'map', line: lineOf(node), entries };
  }
  if (isSeq(node)) {
    const line = lineOf(node);
    const items = node.items.map((item) => locate(item, line, lineAt, report)).filter((i) => i !== null);
    return { kind: 'list', line, items };
  }
  if (isScalar(node)) {
    return { kind: 'scalar', line: lineOf(node), value: node.value };
  }
  report(
    isAlias(node) ? lineOf(node) : fallbackLine,
    'aliases (*name) and other YAML node types are not supported in the rules file',
  );
  return null;
}
