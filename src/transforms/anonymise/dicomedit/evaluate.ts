//! Runs a parsed DicomEdit script on one instance: runScript(script, target, vars, host).
// Statements run top to bottom, as in DicomEdit. Where DicomEdit evaluates a value that is then not
// used (`?=` on an absent element, `:=` on a pattern that matches nothing), we do not evaluate it:
// the same edits result, and a function of an absent element no longer fails the instance.
import type { CallContext, CallExpr, Condition, Expr, Script, Statement } from './ast.ts';
import { ScriptRuntimeError, type Pos } from './errors.ts';
import { compileJavaRegex } from './regex.ts';
import { createPathOps, type PathOps } from './resolve.ts';
import { isConcrete, pathKey, patternText, toPlainPath, type PathPattern } from './tags.ts';
import type { EditTarget, ScriptHost } from './target.ts';

interface Run {
  readonly paths: PathOps;
  /** undefined: defined from an absent element (DicomEdit's null), distinct from not defined. */
  readonly vars: Map<string, string | undefined>;
  readonly host: ScriptHost;
}

/**
 * Applies the script to one instance. `vars` are the script's external variables (`project`,
 * `subject`, `session` …); definitions in the script shadow them for this run only. Throws
 * ScriptRuntimeError when a statement cannot run; the target may then be partly edited.
 */
export function runScript(
  script: Script,
  target: EditTarget,
  vars: Readonly<Record<string, string>>,
  host: ScriptHost,
): { changed: number } {
  const run: Run = { paths: createPathOps(target), vars: new Map(Object.entries(vars)), host };
  execute(script.statements, run);
  return { changed: run.paths.changed };
}

function execute(statements: readonly Statement[], run: Run): void {
  for (const s of statements) {
    try {
      statement(s, run);
    } catch (err) {
      // The host's own errors (a value its VR refuses, say) get the statement's position too.
      throw wrap(
        err,
        s.kind === 'assign' || s.kind === 'delete' ? `cannot ${s.kind} ${patternText(s.target)}` : `${s.kind} failed`,
        s.at,
      );
    }
  }
}

function statement(s: Statement, run: Run): void {
  switch (s.kind) {
    case 'assign':
      assign(s.target, s.value, s.ifExists, run);
      break;
    case 'define':
      run.vars.set(s.name, value(s.value, run));
      break;
    case 'delete':
      remove(s.target, run);
      break;
    case 'call':
      call(s.call, run);
      break;
    case 'echo':
      run.host.log?.(s.value ? (value(s.value, run) ?? '') : '');
      break;
    case 'removeAllPrivateTags':
      run.paths.removeAllPrivateTags();
      break;
    case 'if': {
      const branch = s.branches.find((b) => test(b.when, run));
      execute(branch ? branch.then : s.otherwise, run);
      break;
    }
  }
}

function assign(target: PathPattern, expr: Expr, ifExists: boolean, run: Run): void {
  // An absent source element assigns an empty value, as DicomEdit's null does.
  const text = (): string => value(expr, run) ?? '';
  const plain = isConcrete(target) ? toPlainPath(target) : undefined;
  if (plain) {
    if (!ifExists || run.paths.read(plain) !== undefined) {
      run.paths.set(plain, text());
    }
    return;
  }
  // Patterns edit the elements that are there (a sequence has no text to assign), and so does a
  // `{Creator}` path: DicomEdit applies it in every block the creator holds.
  const found = run.paths.matches(target).filter((e) => e.vr !== 'SQ');
  if (found.length === 0) {
    const created = !ifExists && isConcrete(target) ? run.paths.create(target) : undefined;
    if (created) {
      run.paths.set(created, text());
    }
    return;
  }
  const v = text();
  for (const e of found) {
    run.paths.set(e.path, v);
  }
}

function remove(target: PathPattern, run: Run): void {
  const last = target[target.length - 1];
  const plain = isConcrete(target) ? toPlainPath(target) : undefined;
  if (last?.kind === 'tag' && last.item !== undefined) {
    run.paths.clearItems(target);
  } else if (plain) {
    run.paths.delete(plain);
  } else {
    run.paths.deleteAll(target);
  }
}

function value(e: Expr, run: Run): string | undefined {
  switch (e.kind) {
    case 'string':
      return e.value;
    case 'number':
      return e.text;
    case 'variable':
      if (!run.vars.has(e.name)) {
        throw new ScriptRuntimeError(`unknown variable ${e.name}: the host did not provide it`, e.at);
      }
      return run.vars.get(e.name);
    case 'path':
      return run.paths.get(e.path);
    case 'call': {
      const result = call(e, run);
      return typeof result === 'string' ? result : undefined;
    }
  }
}

function call(e: CallExpr, run: Run): string | boolean | undefined {
  const arg = (i: number): Expr => {
    const a = e.args[i];
    if (!a) {
      throw new ScriptRuntimeError(`${e.name}[] has no argument ${String(i + 1)}`, e.at);
    }
    return a;
  };
  // Each argument is evaluated once per call, however often the function reads it.
  const values = new Map<number, string | undefined>();
  const context: CallContext = {
    host: run.host,
    argCount: e.args.length,
    text: (i) => {
      const a = arg(i);
      const v = values.has(i) ? values.get(i) : value(a, run);
      values.set(i, v);
      if (v === undefined) {
        const what =
          a.kind === 'path'
            ? `the element ${patternText(a.path)}`
            : a.kind === 'variable'
              ? `the variable ${a.name}`
              : 'the value';
        throw new ScriptRuntimeError(`${e.name}[] argument ${String(i + 1)}: ${what} is absent`, a.at);
      }
      return v;
    },
    path: (i) => {
      const a = arg(i);
      if (a.kind !== 'path') {
        throw new ScriptRuntimeError(`${e.name}[] argument ${String(i + 1)} is not a tag path`, a.at);
      }
      return a.path;
    },
    exists: (p) => run.paths.exists(p),
    rewrite: (paths, f) => {
      // Collect first: each edit invalidates the listing the matching walks.
      const found = paths.flatMap((p) => run.paths.matches(p)).filter((m) => m.vr !== 'SQ');
      for (const path of new Map(found.map((m) => [pathKey(m.path), m.path])).values()) {
        const old = run.paths.read(path);
        if (old !== undefined) {
          run.paths.set(path, f(old));
        }
      }
    },
  };
  try {
    return e.fn.apply(context);
  } catch (err) {
    throw wrap(err, `${e.name}[] failed`, e.at);
  }
}

function test(c: Condition, run: Run): boolean {
  if (c.kind === 'test') {
    return call(c.call, run) === true;
  }
  const left = value(c.left, run);
  const right = value(c.right, run);
  // DicomEdit's null rules: an absent left side equals nothing and matches nothing.
  switch (c.op) {
    case '=':
      return left !== undefined && left === right;
    case '!=':
      return left === undefined || left !== right;
    case '~':
      return left !== undefined && regex(c, right).test(left);
    case '!~':
      return left === undefined || !regex(c, right).test(left);
  }
}

function regex(c: Extract<Condition, { kind: 'compare' }>, pattern: string | undefined): RegExp {
  if (c.regex) {
    return c.regex;
  }
  if (pattern === undefined) {
    throw new ScriptRuntimeError('the regular expression is absent', c.right.at);
  }
  try {
    return compileJavaRegex(pattern);
  } catch (err) {
    throw wrap(err, 'bad regular expression', c.right.at);
  }
}

/** A runtime error at `at`, unless it already is one (nested calls report their own position). */
function wrap(err: unknown, what: string, at: Pos): ScriptRuntimeError {
  if (err instanceof ScriptRuntimeError) {
    return err;
  }
  const reason = err instanceof Error ? err.message : String(err);
  return new ScriptRuntimeError(`${what}: ${reason}`, at, { cause: err });
}
