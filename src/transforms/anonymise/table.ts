//! PS3.15 Annex E, Table E.1-1 (Basic Application Level Confidentiality Profile and its options),
//! Table E.3.10-1 (safe private attributes) and attribute Types, as the anonymiser asks for them.
// The tables are generated from the Standard (./standard/, NOTICE-NEMA.md; docs/adr/0007), never
// typed here. This module only answers: which action applies to a tag under a set of options, how a
// combined code resolves for an attribute Type, and whether a private element is on the safe list.
import { loadTables, type ActionCode, type AttributeType, type ColumnKey, type ProfileRow } from './table-load.ts';

export type { ActionCode, AttributeType, ProfileRow } from './table-load.ts';

/** The PS3.15 options our profile engine offers (CID 7050); the pixel options are not table columns. */
export interface ProfileOptions {
  retainLongitudinal: 'off' | 'full' | 'modified';
  retainPatientCharacteristics: boolean;
  retainDeviceIdentity: boolean;
  retainInstitutionIdentity: boolean;
  retainUids: boolean;
  cleanDescriptors: boolean;
  retainSafePrivate: boolean;
  cleanStructuredContent: boolean;
  cleanGraphics: boolean;
}

/** What a combined code becomes once the attribute's Type is known. */
export type ResolvedCode = 'D' | 'Z' | 'X' | 'U';

/** The Table E.1-1a codes whose meaning depends on the attribute's Type. */
export type CombinedCode = 'Z/D' | 'X/Z' | 'X/D' | 'X/Z/D' | 'X/Z/U*';

export function isCombined(code: ActionCode): code is CombinedCode {
  return code.includes('/');
}

const tables = loadTables();

/** The Table E.1-1 edition (e.g. "2024b"), for (0012,0063) and the audit record. */
export const EDITION: string = tables.edition;
/** Rows of Table E.1-1, the private-attributes row included. */
export const TABLE_ROWS: number = tables.rows.length;
/** The Table E.3.10-1 edition (the newest DocBook edition available to the generator). */
export const SAFE_PRIVATE_EDITION: string = tables.safePrivateEdition;
export const SAFE_PRIVATE_ROWS: number = tables.safePrivate.length;

const exact = new Map<number, ProfileRow>();
interface Wildcard {
  row: ProfileRow;
  group: number;
  groupMask: number;
  element: number;
  elementMask: number;
}
const wildcards: Wildcard[] = [];
for (const row of tables.rows) {
  if (row.private) {
    continue;
  }
  if (!row.tag.includes('x')) {
    exact.set(parseInt(row.tag, 16), row);
    continue;
  }
  // "60xx3000": the x digits are free, the others must match.
  const value = (s: string): number => parseInt(s.replace(/x/g, '0'), 16);
  const mask = (s: string): number => parseInt(s.replace(/[0-9A-F]/g, 'F').replace(/x/g, '0'), 16);
  const [g, e] = [row.tag.slice(0, 4), row.tag.slice(4)];
  wildcards.push({ row, group: value(g), groupMask: mask(g), element: value(e), elementMask: mask(e) });
}

/**
 * The Table E.1-1 row governing a public tag, or null. Odd groups are private and answered by
 * isSafePrivate, not here. Repeating groups (curve 50xx, overlay 60xx) match only the even groups
 * 0x..00–0x..1E that PS3.5 §7.6 allows; anything else in those ranges is not a curve or overlay.
 */
export function profileRow(tag: number): ProfileRow | null {
  const group = tag >>> 16;
  const element = tag & 0xffff;
  if (group % 2 === 1) {
    return null;
  }
  const hit = exact.get(tag >>> 0);
  if (hit) {
    return hit;
  }
  for (const w of wildcards) {
    if ((group & w.groupMask) !== w.group || (element & w.elementMask) !== w.element) {
      continue;
    }
    const free = group & ~w.groupMask & 0xffff;
    if (free <= 0x1e) {
      return w.row;
    }
  }
  return null;
}

/** Retention order for choosing between option cells: keeping beats cleaning beats the rest. */
const RETENTION: readonly ActionCode[] = ['K', 'C', 'U', 'D', 'Z', 'X', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*'];

function optionColumns(o: ProfileOptions): ColumnKey[] {
  const on: [ColumnKey, boolean][] = [
    ['retainSafePrivate', o.retainSafePrivate],
    ['retainUids', o.retainUids],
    ['retainDeviceIdentity', o.retainDeviceIdentity],
    ['retainInstitutionIdentity', o.retainInstitutionIdentity],
    ['retainPatientCharacteristics', o.retainPatientCharacteristics],
    ['cleanDescriptors', o.cleanDescriptors],
    ['cleanStructuredContent', o.cleanStructuredContent],
    ['cleanGraphics', o.cleanGraphics],
  ];
  return on.filter(([, enabled]) => enabled).map(([k]) => k);
}

/**
 * The Table E.1-1 action for a public tag under `options`, or null when the table does not list
 * the tag (the caller decides what to do with unlisted attributes) or the tag is private.
 *
 * PS3.15 E.1.1: "A requirement for an Option, when implemented, overrides any requirement for the
 * underlying Profile." The Standard says nothing about two options disagreeing, so:
 * 1. A Retain Longitudinal Temporal Information cell wins for its row when that option is on. The
 *    only real conflict in the table is a date that Retain Device Identity keeps (K) while Modified
 *    Dates shifts it (C), e.g. Date of Last Calibration: keeping one true date next to shifted ones
 *    would reveal the shift, and the temporal option is the one that governs how dates look.
 * 2. Otherwise the most retentive non-empty cell of the enabled options wins (K > C > …): the user
 *    asked to retain that information, and in the table such cells are only ever K or C.
 * 3. Otherwise the Basic Profile code.
 */
export function actionFor(tag: number, options: ProfileOptions): ActionCode | null {
  return actionLookup(options)(tag);
}

/** Memoised lookups by option set (its values, not the object: options are plain mutable data). */
const lookups = new Map<string, (tag: number) => ActionCode | null>();

/**
 * `actionFor` with `options` fixed, memoised by tag: a CT series asks the same ~100 tags a
 * thousand times, and the option columns and wildcard rows need not be walked again each time.
 */
export function actionLookup(options: ProfileOptions): (tag: number) => ActionCode | null {
  // Asked for every instance (profile and verification): a plain string of the values, no arrays.
  const o = options;
  const signature = `${o.retainLongitudinal}${String(+o.retainPatientCharacteristics)}${String(+o.retainDeviceIdentity)}${String(+o.retainInstitutionIdentity)}${String(+o.retainUids)}${String(+o.cleanDescriptors)}${String(+o.retainSafePrivate)}${String(+o.cleanStructuredContent)}${String(+o.cleanGraphics)}`;
  let lookup = lookups.get(signature);
  if (!lookup) {
    const fixed: ProfileOptions = { ...options };
    const memo = new Map<number, ActionCode | null>();
    lookup = (tag) => {
      let code = memo.get(tag);
      if (code === undefined) {
        code = computeAction(tag, fixed);
        memo.set(tag, code);
      }
      return code;
    };
    lookups.set(signature, lookup);
  }
  return lookup;
}

function computeAction(tag: number, options: ProfileOptions): ActionCode | null {
  const row = profileRow(tag);
  if (!row) {
    return null;
  }
  const c = row.codes;
  if (options.retainLongitudinal !== 'off') {
    const temporal =
      c[options.retainLongitudinal === 'full' ? 'retainLongitudinalFullDates' : 'retainLongitudinalModifiedDates'];
    if (temporal) {
      return temporal;
    }
  }
  let best: ActionCode | undefined;
  for (const key of optionColumns(options)) {
    const v = c[key];
    if (v && (best === undefined || RETENTION.indexOf(v) < RETENTION.indexOf(best))) {
      best = v;
    }
  }
  return best ?? c.basic;
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
    const perIod = uid ? tables.typesBySopClass.get(uid) : undefined;
    type = perIod?.[key] ?? tables.globalTypes[key] ?? null;
    memo.set(tag, type);
  }
  return type;
}

/** attributeType answers by SOP class and tag (the key formatting per call showed in profiles). */
const typesMemo = new Map<string, Map<number, AttributeType | null>>();

const safePrivate = new Map(
  tables.safePrivate.map((r) => [`${r.creator}\0${String(r.group)}\0${String(r.element)}`, r]),
);

/**
 * Whether Table E.3.10-1 lists the private element (group, xx`elementLow`) of block `creator` with
 * this VR. The creator must match exactly (after the LO padding is trimmed): private creators are
 * case-sensitive identifiers. `elementLow` may be the whole element; only its low byte is used.
 * VR "UN" (implicit VR files, unknown private dictionaries) matches any listed VR, since the
 * creator and element already identify the attribute; rows with no VR in the table match any VR.
 */
export function isSafePrivate(creator: string, group: number, elementLow: number, vr: string): boolean {
  const row = safePrivate.get(`${creator.trim()}\0${String(group)}\0${String(elementLow & 0xff)}`);
  if (!row) {
    return false;
  }
  return row.vrs === null || vr === 'UN' || row.vrs.includes(vr);
}

/**
 * Whether an attribute can identify a patient: PS3.15 Table E.1-1 lists it, or it is private.
 * Other components use it to decide which matched values they may show (routing reasons).
 */
export function isIdentifying(tag: number): boolean {
  return profileRow(tag) !== null || ((tag >>> 16) & 1) === 1;
}

/**
 * Whether Table E.1-1's Basic Profile codes the attribute U: an instance UID to replace, even when
 * its keyword reads like a definition (Instance Creator UID, Manufacturer's Device Class UID,
 * Template Extension Creator UID). Decided by the table, never by a keyword pattern.
 */
export function isUidCoded(tag: number): boolean {
  return profileRow(tag)?.codes.basic === 'U';
}
