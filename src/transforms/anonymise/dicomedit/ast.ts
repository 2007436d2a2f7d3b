//! The syntax tree parseScript builds and runScript walks.
// Everything that can be checked without an instance is checked while building it (function names
// and arity, regex and format literals, version), so the tree runScript sees is known-good.
import type { Pos } from './errors.ts';
import type { PathPattern } from './tags.ts';
import type { ScriptHost } from './target.ts';

// A call's function spec lives here, beside the tree it is part of, so that functions.ts (the
// implementations) depends on the tree and never the other way round.
/** What a function sees of its call: arguments evaluated on demand, and the element operations it needs. */
export interface CallContext {
  readonly host: ScriptHost;
  readonly argCount: number;
  /** The i-th argument's value; an absent element fails the statement (messages never hold values). */
  text(i: number): string;
  /** The i-th argument as a tag path (for parameters declared 'path' or 'pathText'). */
  path(i: number): PathPattern;
  /** Whether any element matches the path. */
  exists(path: PathPattern): boolean;
  /** Rewrites the value of every element matching any of the paths, once each. */
  rewrite(paths: readonly PathPattern[], f: (value: string) => string): void;
}

/**
 * 'value' is evaluated; 'path' must be written as a tag path; 'pathText' is a string literal holding
 * a tag path (DicomEdit passes mapReferencedUIDs its paths as strings), parsed at load time.
 */
export type ParamKind = 'value' | 'path' | 'pathText';

export interface FunctionSpec {
  readonly minArgs: number;
  readonly maxArgs: number;
  /** 'boolean' functions are conditions, 'void' ones statements; only 'string' ones are values. */
  readonly returns: 'string' | 'boolean' | 'void';
  /** Kinds by position; the last one repeats. Default: all 'value'. */
  readonly params?: readonly ParamKind[];
  /** Load-time checks of literal arguments. */
  readonly check?: (args: readonly Expr[]) => { readonly message: string; readonly at: Pos } | undefined;
  readonly apply: (call: CallContext) => string | boolean | undefined;
}

export interface CallExpr {
  readonly kind: 'call';
  readonly name: string;
  readonly fn: FunctionSpec;
  readonly args: readonly Expr[];
  readonly at: Pos;
}

/** A value: a literal, a variable, the value of one element, or a function's result. */
export type Expr =
  | { readonly kind: 'string'; readonly value: string; readonly at: Pos }
  | { readonly kind: 'number'; readonly text: string; readonly at: Pos }
  | { readonly kind: 'variable'; readonly name: string; readonly at: Pos }
  | { readonly kind: 'path'; readonly path: PathPattern; readonly at: Pos }
  | CallExpr;

export type CompareOp = '=' | '!=' | '~' | '!~';

export type Condition =
  | {
      readonly kind: 'compare';
      readonly op: CompareOp;
      readonly left: Expr;
      readonly right: Expr;
      /** Compiled at load time when the pattern is a string literal. */
      readonly regex?: RegExp;
      readonly at: Pos;
    }
  | { readonly kind: 'test'; readonly call: CallExpr; readonly at: Pos };

export interface Branch {
  readonly when: Condition;
  readonly then: readonly Statement[];
}

export type Statement =
  | {
      readonly kind: 'assign';
      readonly target: PathPattern;
      readonly value: Expr;
      readonly ifExists: boolean;
      readonly at: Pos;
    }
  | { readonly kind: 'define'; readonly name: string; readonly value: Expr; readonly at: Pos }
  | { readonly kind: 'delete'; readonly target: PathPattern; readonly at: Pos }
  | { readonly kind: 'call'; readonly call: CallExpr; readonly at: Pos }
  | { readonly kind: 'echo'; readonly value: Expr | undefined; readonly at: Pos }
  | { readonly kind: 'removeAllPrivateTags'; readonly at: Pos }
  /** Both `if (c) {…} elseif (c) {…} else {…}` and `c ? action : action`. */
  | {
      readonly kind: 'if';
      readonly branches: readonly Branch[];
      readonly otherwise: readonly Statement[];
      readonly at: Pos;
    };

export interface Script {
  /** The `version "6.x"` the script declares. */
  readonly version: string;
  readonly statements: readonly Statement[];
  /**
   * Variables the script reads but never defines: the host must provide them (XNAT provides
   * `project`, `subject` and `session`). Reading one that is missing fails the instance.
   */
  readonly variables: readonly string[];
}

/** Variables read but never defined, in order of first use. */
export function externalVariables(statements: readonly Statement[]): string[] {
  const defined = new Set<string>();
  const used: string[] = [];
  const expr = (e: Expr | undefined): void => {
    if (e?.kind === 'variable') {
      used.push(e.name);
    } else if (e?.kind === 'call') {
      e.args.forEach(expr);
    }
  };
  const cond = (c: Condition): void => {
    if (c.kind === 'compare') {
      expr(c.left);
      expr(c.right);
    } else {
      expr(c.call);
    }
  };
  const walk = (list: readonly Statement[]): void => {
    for (const st of list) {
      if (st.kind === 'define') {
        defined.add(st.name);
      }
      if (st.kind === 'if') {
        st.branches.forEach((b) => {
          cond(b.when);
          walk(b.then);
        });
        walk(st.otherwise);
      } else if (st.kind === 'call') {
        expr(st.call);
      } else if (st.kind !== 'delete' && st.kind !== 'removeAllPrivateTags') {
        expr(st.value);
      }
    }
  };
  walk(statements);
  return [...new Set(used)].filter((name) => !defined.has(name));
}
