//! Conditions of the YAML rules file once compiled: what they are, and whether one instance matches.
// Compiling them from the YAML, with a line for every problem, is condition-compile.ts.
import { valuesOf } from './attribute-values.ts';
import type { InstanceView } from './types.ts';

/** How a leaf tests its attribute: by its values, or by its presence. */
export type LeafTest =
  { readonly mode: 'value'; readonly accepts: (value: string) => boolean } | { readonly mode: 'present' | 'missing' };

/** A compiled condition: a leaf tests one attribute; `all`, `any` and `not` combine conditions. */
export type Condition =
  | { readonly kind: 'leaf'; readonly tag: number; readonly attribute: string; readonly test: LeafTest }
  | { readonly kind: 'all' | 'any'; readonly of: readonly Condition[] }
  | { readonly kind: 'not'; readonly of: Condition };

/** The leaf a true condition owes its truth to: its attribute and the values that matched. */
export interface MatchedLeaf {
  readonly tag: number;
  readonly attribute: string;
  readonly values: readonly string[];
}

/** A true condition; `leaf` is null when no simple leaf explains it (a `not`). */
export interface Match {
  readonly leaf: MatchedLeaf | null;
}

/** Whether the condition holds for the instance, and which leaf made it hold. */
export function matchCondition(c: Condition, instance: InstanceView): Match | null {
  switch (c.kind) {
    case 'leaf':
      return matchLeaf(c.tag, c.attribute, c.test, instance);
    case 'all': {
      let leaf: MatchedLeaf | null = null;
      for (const sub of c.of) {
        const m = matchCondition(sub, instance);
        if (!m) {
          return null;
        }
        leaf ??= m.leaf;
      }
      return { leaf };
    }
    case 'any':
      for (const sub of c.of) {
        const m = matchCondition(sub, instance);
        if (m) {
          return m;
        }
      }
      return null;
    case 'not':
      return matchCondition(c.of, instance) ? null : { leaf: null };
  }
}

// A multi-valued attribute matches when any of its values does.
function matchLeaf(tag: number, attribute: string, test: LeafTest, instance: InstanceView): Match | null {
  const values = valuesOf(instance, tag);
  switch (test.mode) {
    case 'present':
      return values.length > 0 ? { leaf: { tag, attribute, values } } : null;
    case 'missing':
      return values.length === 0 ? { leaf: { tag, attribute, values: [] } } : null;
    case 'value': {
      const hits = values.filter((v) => test.accepts(v));
      return hits.length > 0 ? { leaf: { tag, attribute, values: hits } } : null;
    }
  }
}
