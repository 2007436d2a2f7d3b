//! DASHER's protocol.txt: a Modality include list and a ManufacturerModelName exclude list.
// Grammar (a compatible superset of DASHER's files, reference/xnat.md §1.8):
//   line := TAG WS KEYWORD WS LIST        TAG := hhhh,hhhh (hex, any case)
//   LIST := values separated by commas and/or whitespace; "double quotes" keep spaces in one value
//   blank lines, lines starting with '#', and a '#' starting a token to the end of the line: comments
//   a line starting with clinical_trial_names: read by DASHER but not routed on, so ignored here
// 0008,0060 Modality is an include list: the token ALL anywhere allows every modality (the shipped
// default says "ALL,CT,RTSTRUCT, …"). 0008,1090 ManufacturersModelName (DASHER's spelling) or
// ManufacturerModelName is an exclude list: "ALLOW ALL" or a bare ALL excludes none. An unquoted
// ALL is the keyword in any case; quote it ("ALL") to list a literal value.
//
// We match exact tokens after trimming, where DASHER (ProtocolReader, UploaderDicomIdentifier)
// tests whether the value is a substring of the whole line, tag and keyword included:
//   | instance                 | list                 | DASHER                    | here                       |
//   | model Name, Model, a     | Aera                 | quarantine (keyword text) | hospital                   |
//   | model Aer                | Aera                 | quarantine (substring)    | hospital                   |
//   | model SMALLVIEW          | Aera                 | hospital                  | hospital                   |
//   | model Aera               | SMALLVIEW, Aera      | hospital ("ALL" inside)   | quarantine                 |
//   | model MAGNETOM Aera      | Aera                 | hospital                  | hospital (quote the value) |
//   | modality CT              | RTSTRUCT, MR         | hospital (in RTSTRUCT)    | quarantine                 |
//   | modality mr              | MR                   | quarantine (case)         | hospital (case-insensitive)|
//   | no ManufacturerModelName | Aera                 | NPE: Unassigned prearchive| not excluded               |
//   | no Modality              | CT, MR               | NPE: Unassigned prearchive| quarantine                 |
// Models compare case-sensitively: vendors spell them one way, and DASHER did too.
import type { RouteReason, InstanceView } from './types.ts';
import { valuesOf, type ShowValues } from './attribute-values.ts';

/** One list line of protocol.txt. */
export interface ProtocolList {
  /** 1-based line in the file. */
  readonly line: number;
  /** The ALL keyword: every modality allowed, or no model excluded. */
  readonly all: boolean;
  /** Listed values: modalities upper-cased, models as written. */
  readonly values: ReadonlySet<string>;
}

/** A validated protocol.txt. */
export interface Protocol {
  readonly path: string;
  readonly modality: ProtocolList;
  readonly model: ProtocolList;
}

const MODALITY = 0x00080060;
const MODEL = 0x00081090;
const LINES = new Map([
  [MODALITY, { keywords: ['Modality'], label: '0008,0060 Modality', empty: 'write ALL to allow every modality' }],
  [
    MODEL,
    {
      keywords: ['ManufacturersModelName', 'ManufacturerModelName'],
      label: '0008,1090 ManufacturersModelName',
      empty: 'write ALLOW ALL to exclude no model',
    },
  ],
]);
const TAG = /^[0-9A-Fa-f]{4},[0-9A-Fa-f]{4}$/;

interface Token {
  readonly text: string;
  readonly quoted: boolean;
}

/**
 * Parses protocol.txt. Every problem is appended to `problems` (`${path} line N: …`, or `${path}: …`
 * for a missing line); the result is null when there was any.
 */
export function parseProtocol(path: string, text: string, problems: string[]): Protocol | null {
  const before = problems.length;
  const lists = new Map<number, ProtocolList>();
  // First line of each tag, valid or not: a broken line is not also reported as a missing one.
  const seen = new Map<number, number>();
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n|\r/);
  lines.forEach((raw, i) => {
    const problem = parseLine(raw, i + 1, seen, lists);
    if (problem) {
      problems.push(`${path} line ${String(i + 1)}: ${problem}`);
    }
  });
  for (const [tag, spec] of LINES) {
    if (!seen.has(tag)) {
      problems.push(`${path}: no ${spec.label} line`);
    }
  }
  const modality = lists.get(MODALITY);
  const model = lists.get(MODEL);
  return problems.length === before && modality && model ? { path, modality, model } : null;
}

// Returns the line's problem, or null when it is fine (and then records its list in `lists`).
function parseLine(
  raw: string,
  line: number,
  seen: Map<number, number>,
  lists: Map<number, ProtocolList>,
): string | null {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.startsWith('#') || trimmed.startsWith('clinical_trial_names')) {
    return null;
  }
  // The tag holds a comma, so it and the keyword are split off before the list is tokenised.
  const m = /^(\S+)(?:\s+([^\s#]\S*))?(.*)$/.exec(trimmed);
  const tagText = m?.[1] ?? '';
  if (!TAG.test(tagText)) {
    return `bad tag "${tagText}": expected hhhh,hhhh such as 0008,0060`;
  }
  const tag = parseInt(tagText.replace(',', ''), 16) >>> 0;
  const spec = LINES.get(tag);
  if (!spec) {
    return `unknown tag ${tagText}: protocol.txt routes only on 0008,0060 Modality and 0008,1090 ManufacturersModelName`;
  }
  const first = seen.get(tag);
  if (first !== undefined) {
    return `a second ${spec.label} line (the first is line ${String(first)})`;
  }
  seen.set(tag, line);
  const keyword = m?.[2];
  if (keyword === undefined) {
    return `${tagText} has no keyword: expected ${spec.keywords.join(' or ')}`;
  }
  if (!spec.keywords.includes(keyword)) {
    return `keyword "${keyword}" does not match tag ${tagText} (expected ${spec.keywords.join(' or ')})`;
  }
  const tokens = tokenise(m?.[3] ?? '');
  if (typeof tokens === 'string') {
    return tokens;
  }
  if (tokens.length === 0) {
    return `empty list: ${spec.empty}`;
  }
  const all = tokens.some((t) => !t.quoted && t.text.toUpperCase() === 'ALL');
  const values = new Set(tokens.map((t) => (tag === MODALITY ? t.text.toUpperCase() : t.text)));
  lists.set(tag, { line, all, values });
  return null;
}

// The list's values, or a problem. A '#' at the start of a token begins a comment, so a model
// name with '#' inside ("X#1") stays one value.
function tokenise(s: string): Token[] | string {
  const tokens: Token[] = [];
  const separator = (c: string): boolean => c === ',' || /\s/.test(c);
  let i = 0;
  while (i < s.length) {
    const c = s.charAt(i);
    if (separator(c)) {
      i++;
    } else if (c === '#') {
      break;
    } else if (c === '"') {
      const end = s.indexOf('"', i + 1);
      if (end < 0) {
        return `unterminated quote: ${s.slice(i).trim()}`;
      }
      const text = s.slice(i + 1, end).trim();
      if (text === '') {
        return 'an empty quoted value ""';
      }
      tokens.push({ text, quoted: true });
      i = end + 1;
    } else {
      let j = i;
      while (j < s.length && !separator(s.charAt(j)) && s.charAt(j) !== '"') {
        j++;
      }
      tokens.push({ text: s.slice(i, j), quoted: false });
      i = j;
    }
  }
  return tokens;
}

/** The quarantine reasons protocol.txt gives an instance (none when it may go to the hospital). */
export function protocolReasons(p: Protocol, instance: InstanceView, show: ShowValues): RouteReason[] {
  const reasons: RouteReason[] = [];
  const where = { source: 'protocol', file: p.path, instances: 1 } as const;
  if (!p.modality.all) {
    const modalities = valuesOf(instance, MODALITY);
    // A multi-valued Modality (VM is 1, so a broken file) must have every value on the list.
    const off = modalities.filter((v) => !p.modality.values.has(v.toUpperCase()));
    if (modalities.length === 0) {
      reasons.push({
        ...where,
        rule: 'protocol:modality',
        line: p.modality.line,
        attribute: 'Modality',
        message: `Modality is missing, so it is not on the protocol's include list (line ${String(p.modality.line)}).`,
      });
    } else if (off.length > 0) {
      const shown = show(MODALITY, off);
      const named = shown ? ` ${shown.join('\\')}` : '';
      reasons.push({
        ...where,
        rule: 'protocol:modality',
        line: p.modality.line,
        attribute: 'Modality',
        message: `Modality${named} is not on the protocol's include list (line ${String(p.modality.line)}).`,
        ...(shown ? { values: shown } : {}),
      });
    }
  }
  if (!p.model.all) {
    const hits = valuesOf(instance, MODEL).filter((v) => p.model.values.has(v));
    if (hits.length > 0) {
      const shown = show(MODEL, hits);
      reasons.push({
        ...where,
        rule: 'protocol:model',
        line: p.model.line,
        attribute: 'ManufacturerModelName',
        message: `ManufacturerModelName is on the protocol's exclude list (line ${String(p.model.line)}).`,
        ...(shown ? { values: shown } : {}),
      });
    }
  }
  return reasons;
}
