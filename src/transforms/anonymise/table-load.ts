//! Loads the generated PS3.15 tables in ./standard/ and checks their shape once, at import.
// The JSON is generated (scripts/gen-deid-tables.ts) and committed; a hand edit or a bad merge that
// breaks it must stop the daemon at start rather than make it keep an attribute it should remove.
// JSON imports keep the tables inside the compiled module graph, so dist/ needs no copy step.
import e11Json from './standard/e1_1.json' with { type: 'json' };
import e3Json from './standard/e3_10_1.json' with { type: 'json' };
import iodJson from './standard/iod-types.json' with { type: 'json' };

export const ACTION_CODES = ['D', 'Z', 'X', 'K', 'C', 'U', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*'] as const;
/** PS3.15 Table E.1-1a action codes. */
export type ActionCode = (typeof ACTION_CODES)[number];

export const ATTRIBUTE_TYPES = ['1', '1C', '2', '2C', '3'] as const;
/** PS3.5 §7.4 attribute Types, strongest first. */
export type AttributeType = (typeof ATTRIBUTE_TYPES)[number];

/** The Table E.1-1 columns, by the short keys the generator writes. */
export const COLUMN_KEYS = [
  'basic',
  'retainSafePrivate',
  'retainUids',
  'retainDeviceIdentity',
  'retainInstitutionIdentity',
  'retainPatientCharacteristics',
  'retainLongitudinalFullDates',
  'retainLongitudinalModifiedDates',
  'cleanDescriptors',
  'cleanStructuredContent',
  'cleanGraphics',
] as const;
export type ColumnKey = (typeof COLUMN_KEYS)[number];

export interface ProfileRow {
  /** "ggggeeee" in upper-case hex, "x" for a wildcard digit ("60xx3000"); "ggggeeee" for the private row. */
  readonly tag: string;
  /** The "(gggg,eeee) where gggg is odd" row. */
  readonly private: boolean;
  readonly name: string;
  readonly retired: boolean;
  readonly inStdCompIOD: boolean;
  /** Non-empty cells only; `basic` is always present. */
  readonly codes: Readonly<Partial<Record<ColumnKey, ActionCode>>> & { readonly basic: ActionCode };
}

export interface SafePrivateRow {
  readonly creator: string;
  /** The private group, e.g. 0x7053. */
  readonly group: number;
  /** The low byte of the element, i.e. ee in (gggg,xxee). */
  readonly element: number;
  /** Allowed VRs; null when the table leaves the VR empty. */
  readonly vrs: readonly string[] | null;
  readonly meaning: string;
}

export interface Tables {
  readonly edition: string;
  readonly rows: readonly ProfileRow[];
  readonly safePrivateEdition: string;
  readonly safePrivate: readonly SafePrivateRow[];
  /** SOP Class UID → (tag "ggggeeee" → Type). */
  readonly typesBySopClass: ReadonlyMap<string, Readonly<Record<string, AttributeType>>>;
  readonly globalTypes: Readonly<Record<string, AttributeType>>;
}

function fail(what: string): never {
  throw new Error(`anonymise/standard: ${what} (regenerate with scripts/gen-deid-tables.ts)`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function code(v: unknown, where: string): ActionCode {
  const c = ACTION_CODES.find((k) => k === v);
  return c ?? fail(`${where}: unknown action code ${JSON.stringify(v)}`);
}

function attrType(v: unknown, where: string): AttributeType {
  const t = ATTRIBUTE_TYPES.find((k) => k === v);
  return t ?? fail(`${where}: unknown Type ${JSON.stringify(v)}`);
}

function str(o: Record<string, unknown>, key: string, where: string): string {
  const v = o[key];
  return typeof v === 'string' ? v : fail(`${where}: ${key} is not a string`);
}

function rows(doc: unknown, name: string): { doc: Record<string, unknown>; rows: Record<string, unknown>[] } {
  if (!isObject(doc) || !Array.isArray(doc.rows)) {
    fail(`${name}: no rows`);
  }
  if (doc.rowCount !== doc.rows.length) {
    fail(`${name}: rowCount ${String(doc.rowCount)} but ${String(doc.rows.length)} rows`);
  }
  return { doc, rows: doc.rows.map((r, i) => (isObject(r) ? r : fail(`${name} row ${String(i)}: not an object`))) };
}

function loadE11(raw: unknown): { edition: string; rows: ProfileRow[] } {
  const { doc, rows: list } = rows(raw, 'e1_1.json');
  const out = list.map((r, i): ProfileRow => {
    const where = `e1_1.json row ${String(i)}`;
    const tag = str(r, 'tag', where);
    const isPrivate = r.private === true;
    if (!(isPrivate ? tag === 'ggggeeee' : /^[0-9A-Fx]{8}$/.test(tag))) {
      fail(`${where}: bad tag ${tag}`);
    }
    const codes: Partial<Record<ColumnKey, ActionCode>> = {};
    for (const key of COLUMN_KEYS) {
      if (r[key] !== undefined) {
        codes[key] = code(r[key], `${where} ${key}`);
      }
    }
    const basic = codes.basic ?? fail(`${where}: no basic code`);
    return {
      tag,
      private: isPrivate,
      name: str(r, 'name', where),
      retired: r.retired === true,
      inStdCompIOD: r.inStdCompIOD === true,
      codes: { ...codes, basic },
    };
  });
  return { edition: str(doc, 'edition', 'e1_1.json'), rows: out };
}

function loadE3101(raw: unknown): { edition: string; rows: SafePrivateRow[] } {
  const { doc, rows: list } = rows(raw, 'e3_10_1.json');
  const out = list.map((r, i): SafePrivateRow => {
    const where = `e3_10_1.json row ${String(i)}`;
    const group = str(r, 'group', where);
    const element = str(r, 'element', where);
    if (!/^[0-9A-F]{4}$/.test(group) || !/^[0-9A-F]{2}$/.test(element)) {
      fail(`${where}: bad group/element ${group},${element}`);
    }
    const vr = r.vr === null ? null : str(r, 'vr', where).split('/');
    return {
      creator: str(r, 'creator', where),
      group: parseInt(group, 16),
      element: parseInt(element, 16),
      vrs: vr,
      meaning: str(r, 'meaning', where),
    };
  });
  return { edition: str(doc, 'edition', 'e3_10_1.json'), rows: out };
}

function typeMap(v: unknown, where: string): Record<string, AttributeType> {
  if (!isObject(v)) {
    fail(`${where}: not an object`);
  }
  const out: Record<string, AttributeType> = {};
  for (const [tag, t] of Object.entries(v)) {
    if (!/^[0-9A-F]{8}$/.test(tag)) {
      fail(`${where}: bad tag ${tag}`);
    }
    out[tag] = attrType(t, `${where} ${tag}`);
  }
  return out;
}

function loadIodTypes(raw: unknown): Pick<Tables, 'typesBySopClass' | 'globalTypes'> {
  if (!isObject(raw) || !isObject(raw.iods)) {
    fail('iod-types.json: no iods');
  }
  const bySop = new Map<string, Record<string, AttributeType>>();
  for (const [iod, entry] of Object.entries(raw.iods)) {
    if (!isObject(entry) || !Array.isArray(entry.sopClasses)) {
      fail(`iod-types.json ${iod}: no sopClasses`);
    }
    const types = typeMap(entry.types, `iod-types.json ${iod}`);
    for (const uid of entry.sopClasses) {
      if (typeof uid !== 'string' || bySop.has(uid)) {
        fail(`iod-types.json ${iod}: bad or repeated SOP Class ${String(uid)}`);
      }
      bySop.set(uid, types);
    }
  }
  return { typesBySopClass: bySop, globalTypes: typeMap(raw.global, 'iod-types.json global') };
}

/** Parses and checks the three generated files; throws when any of them is malformed. */
export function loadTables(e11: unknown = e11Json, e3: unknown = e3Json, iod: unknown = iodJson): Tables {
  const profile = loadE11(e11);
  const safe = loadE3101(e3);
  return {
    edition: profile.edition,
    rows: profile.rows,
    safePrivateEdition: safe.edition,
    safePrivate: safe.rows,
    ...loadIodTypes(iod),
  };
}

/**
 * The committed tables, loaded once at import: the row lookup (table.ts), combined codes
 * (combined-codes.ts) and the safe private list (safe-private.ts) all read this one copy.
 */
export const TABLES: Tables = loadTables();
