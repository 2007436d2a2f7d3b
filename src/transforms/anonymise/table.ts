//! PS3.15 Annex E, Table E.1-1 (Basic Application Level Confidentiality Profile and its options),
//! as the anonymiser asks for it: which action applies to a tag under a set of options.
// The tables are generated from the Standard (./standard/, NOTICE-NEMA.md; docs/adr/0007), never
// typed here. How a combined code resolves for an attribute Type is combined-codes.ts; whether a
// private element is on the safe list (Table E.3.10-1) is safe-private.ts.
import { TABLES, type ActionCode, type ColumnKey, type ProfileRow } from './table-load.ts';

export type { ActionCode, ProfileRow } from './table-load.ts';

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

/** The Table E.1-1 edition (e.g. "2024b"), for (0012,0063) and the audit record. */
export const EDITION: string = TABLES.edition;
/** Rows of Table E.1-1, the private-attributes row included. */
export const TABLE_ROWS: number = TABLES.rows.length;

const exact = new Map<number, ProfileRow>();
interface Wildcard {
  row: ProfileRow;
  group: number;
  groupMask: number;
  element: number;
  elementMask: number;
}
const wildcards: Wildcard[] = [];
for (const row of TABLES.rows) {
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
