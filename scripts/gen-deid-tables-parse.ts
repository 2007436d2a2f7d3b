//! Parsers behind scripts/gen-deid-tables.ts: PS3.15 tables from their published renderings.
// Pure functions over file contents, so the generator's only side effects are reading and writing.
// Every parser fails loudly on a shape it does not know: a silently half-read table would be worse
// than no table, because the anonymiser keeps whatever the table does not mention.

export const CODES = ['D', 'Z', 'X', 'K', 'C', 'U', 'Z/D', 'X/Z', 'X/D', 'X/Z/D', 'X/Z/U*'] as const;
export type Code = (typeof CODES)[number];

/** Our short column keys → innolitics' keys for the same PS3.15 Table E.1-1 columns. */
export const COLUMNS = {
  basic: 'basicProfile',
  retainSafePrivate: 'rtnSafePrivOpt',
  retainUids: 'rtnUIDsOpt',
  retainDeviceIdentity: 'rtnDevIdOpt',
  retainInstitutionIdentity: 'rtnInstIdOpt',
  retainPatientCharacteristics: 'rtnPatCharsOpt',
  retainLongitudinalFullDates: 'rtnLongFullDatesOpt',
  retainLongitudinalModifiedDates: 'rtnLongModifDatesOpt',
  cleanDescriptors: 'cleanDescOpt',
  cleanStructuredContent: 'cleanStructContOpt',
  cleanGraphics: 'cleanGraphOpt',
} as const;
export type Column = keyof typeof COLUMNS;

export type E11Row = { tag: string; private?: true; name: string; retired: boolean; inStdCompIOD: boolean } & Partial<
  Record<Column, Code>
>;

/** Normalises a cell: footnote markers and stray spaces go, the rest must be one of the 11 codes. */
export function normaliseCode(raw: string, where: string): Code {
  const s = raw
    .replace(/\s+/g, '')
    .replace(/\[\d+\]$/, '')
    .toUpperCase()
    .replace(/^X\/Z\/U$/, 'X/Z/U*');
  const c = CODES.find((k) => k === s);
  if (!c) {
    throw new Error(`${where}: unknown action code ${JSON.stringify(raw)}`);
  }
  return c;
}

const PRIVATE_ROW = /^\(gggg,eeee\) where gggg is odd$/i;

/** "(0008,0050)" → "00080050", "(60XX,3000)" → "60xx3000"; the odd-group private row → "ggggeeee". */
export function normaliseTag(raw: string): { tag: string; private?: true } {
  const t = raw.trim();
  if (PRIVATE_ROW.test(t)) {
    return { tag: 'ggggeeee', private: true };
  }
  const m = /^\(([0-9A-Fa-fxX]{4}),([0-9A-Fa-fxX]{4})\)$/.exec(t);
  if (!m?.[1] || !m[2]) {
    throw new Error(`unknown tag form ${JSON.stringify(raw)}`);
  }
  return { tag: (m[1] + m[2]).toUpperCase().replace(/X/g, 'x') };
}

interface InnoRow {
  name: string;
  tag: string;
  stdCompIOD?: string;
  [k: string]: string | undefined;
}
interface InnoAttr {
  id: string;
  retired: string;
}

/**
 * Table E.1-1 from innolitics' confidentiality_profile_attributes.json. That rendering dropped the
 * table's "Retd." column, so retirement comes from PS3.6 (innolitics attributes.json): a wildcard
 * row is retired when every dictionary entry it covers is; rows absent from PS3.6 (command fields of
 * PS3.7, the private row) are not retired — the same answers the 2023b XML's Retd. column gives.
 */
export function parseE11(profileJson: string, attributesJson: string): E11Row[] {
  const rows = JSON.parse(profileJson) as InnoRow[];
  const attrs = JSON.parse(attributesJson) as InnoAttr[];
  const retired = new Map(attrs.map((a) => [a.id.toLowerCase(), a.retired === 'Y']));
  const out = rows.map((r): E11Row => {
    const t = normaliseTag(r.tag);
    const row: E11Row = {
      ...t,
      name: r.name.trim(),
      retired: !t.private && isRetired(t.tag, retired),
      inStdCompIOD: r.stdCompIOD === 'Y',
    };
    for (const [key, inno] of Object.entries(COLUMNS) as [Column, string][]) {
      const v = r[inno];
      if (v !== undefined && v.trim() !== '') {
        row[key] = normaliseCode(v, `${r.tag} ${inno}`);
      }
    }
    if (!row.basic) {
      throw new Error(`${r.tag}: empty basic profile cell`);
    }
    return row;
  });
  // Hex order, wildcard rows where their digits fall, the private row last.
  out.sort((a, b) => (a.private ? 1 : 0) - (b.private ? 1 : 0) || (a.tag < b.tag ? -1 : a.tag > b.tag ? 1 : 0));
  const seen = new Set<string>();
  for (const r of out) {
    if (seen.has(r.tag)) {
      throw new Error(`duplicate row ${r.tag}`);
    }
    seen.add(r.tag);
  }
  return out;
}

function isRetired(tag: string, dict: Map<string, boolean>): boolean {
  const key = tag.toLowerCase();
  if (!key.includes('x')) {
    return dict.get(key) ?? false;
  }
  const re = new RegExp(`^${key.replace(/x/g, '[0-9a-fx]')}$`);
  const hits = [...dict].filter(([id]) => re.test(id));
  return hits.length > 0 && hits.every(([, r]) => r);
}

/** The text of every <td> of every body row of the DocBook table with this label. */
export function docbookTable(xml: string, label: string): string[][] {
  const start = xml.indexOf(`label="${label}"`);
  if (start < 0) {
    throw new Error(`table ${label} not found`);
  }
  const table = xml.slice(start, xml.indexOf('</table>', start));
  if (/(row|col)span="(?!1")/.test(table)) {
    throw new Error(`table ${label} has spanning cells; the parser does not handle them`);
  }
  const body = table.slice(table.indexOf('<tbody>'));
  return [...body.matchAll(/<tr[\s>][\s\S]*?<\/tr>/g)].map((tr) =>
    [...tr[0].matchAll(/<td[\s>][\s\S]*?<\/td>/g)].map((td) =>
      decodeXml(td[0].replace(/<[^>]+>/g, ' '))
        .replace(/\s+/g, ' ')
        .trim(),
    ),
  );
}

function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const lower = e.toLowerCase();
    if (lower.startsWith('#x')) {
      return String.fromCodePoint(parseInt(lower.slice(2), 16));
    }
    if (lower.startsWith('#')) {
      return String.fromCodePoint(parseInt(lower.slice(1), 10));
    }
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[lower] ?? '';
  });
}

/** The edition in a DocBook part's subtitle ("DICOM PS3.15 2023b - …"). */
export function docbookEdition(xml: string): string {
  const m = /<subtitle>DICOM PS3\.\d+ (\d{4}[a-e])\b/.exec(xml);
  if (!m?.[1]) {
    throw new Error('edition not found in the DocBook subtitle');
  }
  return m[1];
}

export interface SafePrivateRow {
  creator: string;
  group: string;
  element: string;
  vr: string | null;
  vm: string;
  meaning: string;
}

/** Table E.3.10-1 Safe Private Attributes: (gggg,xxee), creator, VR, VM, meaning. */
export function parseE3101(xml: string): SafePrivateRow[] {
  const rows = docbookTable(xml, 'E.3.10-1').map((cells, i): SafePrivateRow => {
    const [tag, creator, vr, vm, meaning] = cells;
    const m = /^\(([0-9A-Fa-f]{4}),xx([0-9A-Fa-f]{2})\)$/.exec(tag ?? '');
    if (cells.length !== 5 || !m?.[1] || !m[2] || !creator) {
      throw new Error(`E.3.10-1 row ${String(i + 1)}: unexpected cells ${JSON.stringify(cells)}`);
    }
    if (parseInt(m[1], 16) % 2 === 0) {
      throw new Error(`E.3.10-1 row ${String(i + 1)}: even group ${m[1]}`);
    }
    // "OW/OB" → "OB/OW": alternatives in a fixed order; an empty cell (the table leaves a few) → null.
    const vrs = (vr ?? '')
      .split('/')
      .map((v) => v.trim())
      .filter(Boolean)
      .sort();
    if (vrs.some((v) => !/^[A-Z]{2}$/.test(v))) {
      throw new Error(`E.3.10-1 row ${String(i + 1)}: odd VR ${String(vr)}`);
    }
    return {
      creator,
      group: m[1].toUpperCase(),
      element: m[2].toUpperCase(),
      vr: vrs.length ? vrs.join('/') : null,
      vm: vm ?? '',
      meaning: meaning ?? '',
    };
  });
  rows.sort((a, b) => cmp(a.creator, b.creator) || cmp(a.group, b.group) || cmp(a.element, b.element));
  for (let i = 1; i < rows.length; i++) {
    const [p, r] = [rows[i - 1], rows[i]];
    if (p && r && p.creator === r.creator && p.group === r.group && p.element === r.element) {
      throw new Error(`E.3.10-1 duplicate ${r.creator} (${r.group},xx${r.element})`);
    }
  }
  return rows;
}

export function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
