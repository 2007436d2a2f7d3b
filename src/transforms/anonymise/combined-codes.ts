//! Table E.1-1a combined codes (Z/D, X/Z, X/D, X/Z/D, X/Z/U*) resolved by the attribute's Type.
// A combined code leaves the choice to the attribute's Type in the IOD (PS3.5 §7.4), so resolving
// it needs the per-IOD Types generated into iod-types.json (docs/adr/0007) besides the code itself.
import { TABLES, type ActionCode, type AttributeType } from './table-load.ts';

/** What a combined code becomes once the attribute's Type is known. */
export type ResolvedCode = 'D' | 'Z' | 'X' | 'U';

/** The Table E.1-1a codes whose meaning depends on the attribute's Type. */
export type CombinedCode = 'Z/D' | 'X/Z' | 'X/D' | 'X/Z/D' | 'X/Z/U*';

export function isCombined(code: ActionCode): code is CombinedCode {
  return code.includes('/');
}

/**
 * Resolves a Table E.1-1a code for an attribute of Type `type` (null = unknown). Simple codes pass
 * through. An unknown Type takes the branch that keeps the object valid whatever the Type is (D for
 * a possible Type 1, Z where D is not offered): a dummy value is cheaper than an invalid object.
 * - Z/D:    Type 1/1C → D; 2/2C/3 → Z; unknown → D.
 * - X/Z:    Type 3 → X; any other or unknown → Z (the code offers nothing stronger than Z).
 * - X/D:    Type 3 → X; 1/1C, and 2/2C (X would break a required attribute) or unknown → D.
 * - X/Z/D:  Type 3 → X; 2/2C → Z; 1/1C or unknown → D.
 * - X/Z/U*: always U — Referenced/Source Image Sequence are kept with their UIDs remapped, never
 *   removed, so derivation chains (CT → RT) survive de-identification (our policy, deid.md §5.3.3).
 * 1C and 2C are treated as their unconditional Types: the condition is not evaluated here.
 */
export function resolveCombined(code: Exclude<ActionCode, 'K' | 'C'>, type: AttributeType | null): ResolvedCode {
  const t3 = type === '3';
  const t2 = type === '2' || type === '2C';
  switch (code) {
    case 'D':
    case 'Z':
    case 'X':
    case 'U':
      return code;
    case 'Z/D':
      return t2 || t3 ? 'Z' : 'D';
    case 'X/Z':
      return t3 ? 'X' : 'Z';
    case 'X/D':
      return t3 ? 'X' : 'D';
    case 'X/Z/D':
      return t3 ? 'X' : t2 ? 'Z' : 'D';
    case 'X/Z/U*':
      return 'U';
  }
}

/**
 * The action for an attribute at `depth` (0 = top level) of an instance of `sopClassUid`, combined
 * codes resolved: by the attribute's Type in the IOD at the top level; below it, X/Z/D takes X (its
 * D branch would keep a sequence such as Institution Code Sequence, and X is what the code offers
 * first) and the other combined codes the branch that keeps the object valid. Null when the table
 * does not list the attribute.
 */
export function resolveAction(
  code: ActionCode | null,
  tag: number,
  depth: number,
  sopClassUid: string | null,
): 'D' | 'Z' | 'X' | 'K' | 'C' | 'U' | null {
  if (code === null) {
    return null;
  }
  if (code === 'K' || code === 'C') {
    return code;
  }
  if (!isCombined(code)) {
    return code;
  }
  if (depth > 0 && code === 'X/Z/D') {
    return 'X';
  }
  return resolveCombined(code, depth === 0 ? attributeType(sopClassUid, tag) : null);
}

function tagKey(tag: number): string {
  return (tag >>> 0).toString(16).toUpperCase().padStart(8, '0');
}

/**
 * The strongest Type with which `tag` appears at the top level of the IOD of `sopClassUid`, else
 * the strongest in any IOD, else null. Only tags with a combined Basic Profile code are known: it
 * is what resolveCombined needs, and the generated file stays small (see iod-types.json).
 */
export function attributeType(sopClassUid: string | null, tag: number): AttributeType | null {
  const uid = sopClassUid?.replace(/[\0 ]+$/, '') ?? '';
  let memo = typesMemo.get(uid);
  if (!memo) {
    if (typesMemo.size >= 256) {
      typesMemo.clear();
    }
    memo = new Map();
    typesMemo.set(uid, memo);
  }
  let type = memo.get(tag);
  if (type === undefined) {
    const key = tagKey(tag);
    const perIod = uid ? TABLES.typesBySopClass.get(uid) : undefined;
    type = perIod?.[key] ?? TABLES.globalTypes[key] ?? null;
    memo.set(tag, type);
  }
  return type;
}

/** attributeType answers by SOP class and tag (the key formatting per call showed in profiles). */
const typesMemo = new Map<string, Map<number, AttributeType | null>>();
