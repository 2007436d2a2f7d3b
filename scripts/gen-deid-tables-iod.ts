//! Attribute Types per IOD from dicom3tools' templates, for resolving Z/D, X/Z, X/D, X/Z/D.
// dicom3tools (David Clunie's dciodvfy) keeps PS3.3's IOD and module tables as text templates,
// updated with every edition. We read only what the anonymiser needs: for each Composite IOD, the
// Type of each attribute at the top level of its modules (macros invoked at the top level included),
// and which SOP Classes use that IOD.
import { cmp } from './gen-deid-tables-parse.ts';

export const TYPES = ['1', '1C', '2', '2C', '3'] as const;
export type AttrType = (typeof TYPES)[number];

/** The stronger of two Types, in the order 1 > 1C > 2 > 2C > 3 ("strongest" = most demanding). */
export function stronger(a: AttrType | undefined, b: AttrType): AttrType {
  return a === undefined || TYPES.indexOf(b) < TYPES.indexOf(a) ? b : a;
}

type Line = Record<string, string> & { _kind: string; _value: string };

/** key="value" pairs of one template line, comments (# outside quotes) dropped; null for blank lines. */
function parseLine(raw: string): Line | null {
  let text = '';
  let quoted = false;
  for (const ch of raw) {
    if (ch === '"') {
      quoted = !quoted;
    }
    if (ch === '#' && !quoted) {
      break;
    }
    text += ch;
  }
  const pairs = [...text.matchAll(/([A-Za-z]+)="([^"]*)"|([A-Za-z]+End)\b/g)];
  const first = pairs[0];
  if (!first) {
    return null;
  }
  const line = { _kind: first[1] ?? first[3] ?? '', _value: first[2] ?? '' } as Line;
  for (const p of pairs) {
    if (p[1]) {
      line[p[1]] = p[2] ?? '';
    }
  }
  return line;
}

type Item = { attr: string; type: AttrType } | { macro: string };

/** Module and macro definitions → their top-level items (sequence contents are skipped). */
export function parseModules(texts: string[]): Map<string, Item[]> {
  const blocks = new Map<string, Item[]>();
  for (const text of texts) {
    let current: Item[] | null = null;
    let depth = 0;
    for (const raw of text.split('\n')) {
      const l = parseLine(raw);
      if (!l) {
        continue;
      }
      switch (l._kind) {
        case 'Module':
        case 'DefineMacro': {
          // A later definition of the same name replaces the earlier (dicom3tools' own rule).
          current = [];
          depth = 0;
          blocks.set(`${l._kind === 'Module' ? 'M' : 'D'}:${l._value}`, current);
          break;
        }
        case 'ModuleEnd':
        case 'MacroEnd':
          current = null;
          break;
        case 'Name':
        case 'Sequence': {
          const t = (l.Type ?? '').replace(/^3C$/, '3');
          if (current && depth === 0 && (TYPES as readonly string[]).includes(t)) {
            current.push({ attr: l._value, type: t as AttrType });
          }
          if (l._kind === 'Sequence') {
            depth++;
          }
          break;
        }
        case 'SequenceEnd':
          depth--;
          break;
        case 'InvokeMacro':
          if (current && depth === 0) {
            current.push({ macro: l._value });
          }
          break;
        default:
          break;
      }
    }
  }
  return blocks;
}

/** Keyword → "ggggeeee" from dicom3tools' data dictionary (elmdict/dicom3.tpl). */
export function parseDictionary(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of text.matchAll(/^\(([0-9A-Fa-fx]{4}),([0-9A-Fa-fx]{4})\)[^\n]*?Keyword="(\w+)"/gm)) {
    if (m[1] && m[2] && m[3] && !out.has(m[3])) {
      out.set(m[3], (m[1] + m[2]).toUpperCase().replace(/X/g, 'x'));
    }
  }
  return out;
}

export interface IodEntry {
  /** The SOP Classes whose instances follow this IOD. */
  sopClasses: string[];
  /** Whose module list this IOD's Types come from (the Types themselves are always dicom3tools'). */
  modulesFrom: 'dicom3tools' | 'innolitics';
  /** tag → strongest top-level Type, only for the tags asked about. */
  types: Record<string, AttrType>;
}

export interface IodTypes {
  /** IOD name (dicom3tools' CompositeIOD) → its SOP Classes and Types. */
  iods: Record<string, IodEntry>;
  /** tag → strongest top-level Type in any IOD: the fallback for SOP Classes we do not know. */
  global: Record<string, AttrType>;
  warnings: string[];
}

/** innolitics' sops.json, ciods.json and ciod_to_modules.json, parsed. */
export interface InnoIods {
  sops: { id: string; ciod: string }[];
  ciods: { id: string; name: string }[];
  ciodToModules: { ciodId: string; moduleId: string }[];
}

export interface D3Texts {
  modules: string[];
  iodcomp: string[];
  condn: string;
  sopcl: string;
  dictionary: string;
}

/** Builds the per-IOD and global Type maps for `tags` (normalised "ggggeeee"). */
export function buildIodTypes(d3: D3Texts, tags: ReadonlySet<string>, inno?: InnoIods): IodTypes {
  const warnings: string[] = [];
  const blocks = parseModules(d3.modules);
  const dict = parseDictionary(d3.dictionary);
  const uidByName = new Map<string, string>();
  for (const raw of d3.sopcl.split('\n')) {
    const l = parseLine(raw.replace(/^\s*DirectoryRecord="[^"]*"/, ''));
    // Only class UIDs: "Type=Instance" lines are well-known instances (e.g. storage commitment).
    if (l?._kind === 'Name' && l.Uid && (l.Type ?? 'Class') === 'Class' && !uidByName.has(l._value)) {
      uidByName.set(l._value, l.Uid);
    }
  }

  const topLevel = (block: string, seen = new Set<string>()): Map<string, AttrType> => {
    const out = new Map<string, AttrType>();
    if (seen.has(block)) {
      return out;
    }
    seen.add(block);
    const items = blocks.get(block);
    if (!items) {
      warnings.push(`no definition for ${block}`);
      return out;
    }
    for (const it of items) {
      if ('attr' in it) {
        const tag = dict.get(it.attr);
        if (tag === undefined) {
          warnings.push(`keyword ${it.attr} not in the dictionary`);
        } else {
          out.set(tag, stronger(out.get(tag), it.type));
        }
      } else {
        for (const [tag, t] of topLevel(`D:${it.macro}`, seen)) {
          out.set(tag, stronger(out.get(tag), t));
        }
      }
    }
    return out;
  };

  // Pass 1: dicom3tools' own IODs and the SOP Classes their instance conditions name.
  const found: { iod: string; sops: string[]; types: Map<string, AttrType>; via: 'dicom3tools' | 'innolitics' }[] = [];
  const claimed = new Map<string, string>();
  const typesOf = (modules: Iterable<string>): Map<string, AttrType> => {
    const types = new Map<string, AttrType>();
    for (const mod of modules) {
      for (const [tag, t] of topLevel(`M:${mod}`)) {
        types.set(tag, stronger(types.get(tag), t));
      }
    }
    return types;
  };
  const claim = (iod: string, uids: string[]): string[] =>
    uids.filter((uid) => {
      const prev = claimed.get(uid);
      if (prev !== undefined) {
        warnings.push(`SOP Class ${uid} claimed by ${prev} and ${iod}; keeping ${prev}`);
      } else {
        claimed.set(uid, iod);
      }
      return prev === undefined;
    });
  for (const text of d3.iodcomp) {
    for (const m of text.matchAll(/^CompositeIOD="(\w+)"[^\n]*?Condition="(\w+)"([\s\S]*?)^CompositeIODEnd/gm)) {
      const [, iod = '', cond = '', body = ''] = m;
      const sops = claim(iod, sopClassesOf(d3.condn, cond, uidByName, warnings));
      found.push({
        iod,
        sops,
        types: typesOf([...body.matchAll(/^\s*Module="(\w+)"/gm)].map((x) => x[1] ?? '')),
        via: 'dicom3tools',
      });
    }
  }
  // Pass 2: SOP Classes dicom3tools has no IOD for yet take the IOD's module list from innolitics
  // (PS3.3 of that edition), with each module's Types still from dicom3tools, matched by name.
  if (inno) {
    const d3Modules = new Map(
      [...blocks.keys()].filter((k) => k.startsWith('M:')).map((k) => [squash(k.slice(2)), k.slice(2)]),
    );
    const ciodByName = new Map(inno.ciods.map((c) => [c.name, c.id]));
    for (const sop of [...inno.sops].sort((a, b) => cmp(a.id, b.id))) {
      const ciod = ciodByName.get(sop.ciod);
      if (claimed.has(sop.id) || ciod === undefined) {
        continue;
      }
      const mods = inno.ciodToModules
        .filter((r) => r.ciodId === ciod)
        .map((r) => {
          const name = d3Modules.get(squash(r.moduleId));
          if (name === undefined) {
            warnings.push(`innolitics module ${r.moduleId} (IOD ${ciod}) has no dicom3tools definition`);
          }
          return name;
        });
      const entry = found.find((f) => f.iod === ciod);
      if (entry) {
        entry.sops.push(...claim(ciod, [sop.id]));
      } else {
        found.push({
          iod: ciod,
          sops: claim(ciod, [sop.id]),
          types: typesOf(mods.filter((x) => x !== undefined)),
          via: 'innolitics',
        });
      }
    }
  }
  // IHE and working-group variants of an IOD claim no SOP Class of their own: leave them out, so the
  // global fallback reflects the Standard's IODs only.
  const result: IodTypes = { iods: {}, global: {}, warnings };
  const global = new Map<string, AttrType>();
  for (const f of found.filter((x) => x.sops.length > 0)) {
    const wanted = [...f.types].filter(([tag]) => tags.has(tag)).sort(([a], [b]) => cmp(a, b));
    for (const [tag, t] of wanted) {
      global.set(tag, stronger(global.get(tag), t));
    }
    if (result.iods[f.iod]) {
      warnings.push(`IOD ${f.iod} defined twice; keeping the first`);
    } else {
      result.iods[f.iod] = { sopClasses: f.sops.sort(cmp), modulesFrom: f.via, types: Object.fromEntries(wanted) };
    }
  }
  result.global = Object.fromEntries([...global].sort(([a], [b]) => cmp(a, b)));
  return result;
}

/** "general-series", "GeneralSeries" → "generalseries". */
function squash(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** The SOP Class UIDs a CompositeIOD's instance condition tests for. */
function sopClassesOf(condn: string, cond: string, uidByName: Map<string, string>, warnings: string[]): string[] {
  const m = new RegExp(`^Condition="${cond}"\\s*\\n([\\s\\S]*?)^ConditionEnd`, 'm').exec(condn);
  if (!m?.[1]) {
    warnings.push(`condition ${cond} not found`);
    return [];
  }
  const uids: string[] = [];
  for (const c of m[1].matchAll(/StringConstantFromRootAttribute="(\w+)SOPClassUID"/g)) {
    const uid = uidByName.get(c[1] ?? '');
    if (uid) {
      uids.push(uid);
    } else {
      warnings.push(`SOP Class ${String(c[1])} of ${cond} not in sopcl.tpl`);
    }
  }
  return uids;
}
