//! Generates src/transforms/anonymise/standard/ (PS3.15 Tables E.1-1 and E.3.10-1, attribute
//! Types per IOD, the NEMA notice) from published renderings of the DICOM Standard.
// Usage (each DIR is a checkout or a bare git directory such as a fetched mirror; FILE may be a
// path or GITDIR:path-in-repo):
//   node scripts/gen-deid-tables.ts --innolitics DIR --edition 2024b --part15 FILE
//                                   --dicom3tools DIR [--out DIR] [--check]
// --check regenerates in memory and exits 1 when a committed file differs (determinism/staleness).
// The tables are never typed by hand: a new edition is a new run of this script (docs/adr/0007).
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { COLUMNS, docbookEdition, parseE11, parseE3101, type E11Row } from './gen-deid-tables-parse.ts';
import { buildIodTypes, TYPES, type InnoIods } from './gen-deid-tables-iod.ts';
import { noticeMarkdown } from './gen-deid-tables-notice.ts';

const DEFAULT_OUT = fileURLToPath(new URL('../src/transforms/anonymise/standard/', import.meta.url));
const GENERATED_BY = 'scripts/gen-deid-tables.ts';

/** A checkout or a bare git directory, read the same way, remembering what was read (with digests). */
class Source {
  readonly files: Record<string, string> = {};
  readonly commit: string | null;
  readonly repository: string | null;
  private readonly bare: boolean;
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
    this.bare = existsSync(join(dir, 'objects')) && existsSync(join(dir, 'HEAD'));
    // A plain folder inside some other checkout must not borrow that checkout's commit.
    const own = this.bare || this.git(['rev-parse', '--show-toplevel']) === resolve(dir);
    this.commit = own ? this.git(['rev-parse', 'HEAD']) : null;
    // A fetched mirror lives at …/owner+name/repo; a clone knows its origin.
    const mirror = /([^/]+)\+([^/]+)\/repo\/?$/.exec(resolve(dir));
    const origin = own ? this.git(['config', '--get', 'remote.origin.url']) : null;
    const fromOrigin = origin ? /[/:]([^/:]+\/[^/]+?)(\.git)?$/.exec(origin)?.[1] : undefined;
    this.repository = mirror?.[1] && mirror[2] ? `${mirror[1]}/${mirror[2]}` : (fromOrigin ?? null);
  }

  private git(args: string[]): string | null {
    try {
      const where = this.bare ? ['--git-dir', this.dir] : ['-C', this.dir];
      return execFileSync('git', [...where, ...args], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'ignore'],
        maxBuffer: 1 << 28,
      }).trim();
    } catch {
      return null;
    }
  }

  read(path: string): string {
    const text = this.bare
      ? execFileSync('git', ['--git-dir', this.dir, 'show', `HEAD:${path}`], { encoding: 'utf8', maxBuffer: 1 << 28 })
      : readFileSync(join(this.dir, path), 'utf8');
    this.files[path] = createHash('sha256').update(text).digest('hex');
    return text;
  }

  list(folder: string, ext: string): string[] {
    const names = this.bare
      ? (this.git(['ls-tree', '--name-only', 'HEAD', `${folder}/`]) ?? '').split('\n').map((p) => basename(p))
      : readdirSync(join(this.dir, folder));
    return names
      .filter((n) => n.endsWith(ext))
      .sort()
      .map((n) => `${folder}/${n}`);
  }

  provenance(): Record<string, unknown> {
    const files = Object.fromEntries(
      Object.entries(this.files)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([p, h]) => [p, `sha256:${h}`]),
    );
    return { repository: this.repository, commit: this.commit, files };
  }
}

/** "GITDIR:path" or a plain file → a Source and the path to read from it. */
function fileSource(spec: string): [Source, string] {
  const i = spec.lastIndexOf(':');
  if (i > 0 && existsSync(spec.slice(0, i))) {
    return [new Source(spec.slice(0, i)), spec.slice(i + 1)];
  }
  return [new Source(dirname(spec)), basename(spec)];
}

/** Our JSON layout: fixed key order, one row per line, so diffs between editions read row by row. */
function jsonDoc(head: Record<string, unknown>, listKey: string, items: unknown[] | Record<string, unknown>): string {
  const lines = Object.entries(head).map(([k, v]) => `  ${JSON.stringify(k)}: ${JSON.stringify(v)},`);
  const body = Array.isArray(items)
    ? items.map((r) => `    ${JSON.stringify(r)}`)
    : Object.entries(items).map(([k, v]) => `    ${JSON.stringify(k)}: ${JSON.stringify(v)}`);
  const [open, close] = Array.isArray(items) ? ['[', ']'] : ['{', '}'];
  return `{\n${lines.join('\n')}\n  ${JSON.stringify(listKey)}: ${open}\n${body.join(',\n')}\n  ${close}\n}\n`;
}

function main(): void {
  const { values } = parseArgs({
    options: {
      innolitics: { type: 'string' },
      edition: { type: 'string' },
      part15: { type: 'string' },
      dicom3tools: { type: 'string' },
      out: { type: 'string' },
      check: { type: 'boolean', default: false },
    },
  });
  const { innolitics, edition, part15, dicom3tools } = values;
  if (!innolitics || !edition || !part15 || !dicom3tools) {
    throw new Error(
      'usage: gen-deid-tables.ts --innolitics DIR --edition 2024b --part15 FILE|GITDIR:path --dicom3tools DIR [--out DIR] [--check]',
    );
  }
  if (!/^\d{4}[a-e]$/.test(edition)) {
    throw new Error(`--edition ${edition}: expected e.g. 2024b`);
  }
  const out = values.out ?? DEFAULT_OUT;

  // Table E.1-1 (all option columns) from innolitics' MIT rendering of the edition named.
  const inno = new Source(innolitics);
  const e11 = parseE11(
    inno.read('standard/confidentiality_profile_attributes.json'),
    inno.read('standard/attributes.json'),
  );
  const notice = `DICOM PS3.15 ${edition} excerpt, (c) NEMA; rendering (c) Innolitics (MIT). Generated by ${GENERATED_BY}: do not edit, regenerate. See NOTICE-NEMA.md.`;
  const e11Doc = jsonDoc(
    {
      notice,
      table: 'PS3.15 Table E.1-1 Application Level Confidentiality Profile Attributes',
      edition,
      source: { ...inno.provenance(), license: 'MIT' },
      generatedBy: GENERATED_BY,
      columns: Object.keys(COLUMNS),
      rowCount: e11.length,
    },
    'rows',
    e11.map(orderRow),
  );

  // Table E.3.10-1 exists only in the DocBook XML (innolitics does not render it).
  const [p15, p15Path] = fileSource(part15);
  const p15Xml = p15.read(p15Path);
  const p15Edition = docbookEdition(p15Xml);
  const safe = parseE3101(p15Xml);
  const e3Doc = jsonDoc(
    {
      notice: `DICOM PS3.15 ${p15Edition} excerpt, (c) NEMA. Generated by ${GENERATED_BY}: do not edit, regenerate. See NOTICE-NEMA.md.`,
      table: 'PS3.15 Table E.3.10-1 Safe Private Attributes',
      edition: p15Edition,
      source: { ...p15.provenance(), document: `DICOM PS3.15 ${p15Edition} DocBook XML` },
      generatedBy: GENERATED_BY,
      keys: 'creator: Private Creator; group: 4 hex digits; element: low byte of (gggg,xxee) in hex; vr: null when the table leaves it empty, "A/B" for alternatives',
      rowCount: safe.length,
    },
    'rows',
    safe,
  );

  // Attribute Types, only for the tags whose basic code depends on them.
  const combined = new Set(e11.filter((r) => !r.private && r.basic?.includes('/')).map((r) => r.tag));
  const d3 = new Source(dicom3tools);
  const std = 'libsrc/standard';
  const version = d3.read('VERSION').trim();
  const iod = buildIodTypes(
    {
      modules: d3.list(`${std}/module`, '.tpl').map((p) => d3.read(p)),
      iodcomp: d3.list(`${std}/iodcomp`, '.tpl').map((p) => d3.read(p)),
      condn: d3.read(`${std}/condn.tpl`),
      sopcl: d3.read(`${std}/sopcl.tpl`),
      dictionary: d3.read(`${std}/elmdict/dicom3.tpl`),
    },
    combined,
    {
      sops: JSON.parse(inno.read('standard/sops.json')) as InnoIods['sops'],
      ciods: JSON.parse(inno.read('standard/ciods.json')) as InnoIods['ciods'],
      ciodToModules: JSON.parse(inno.read('standard/ciod_to_modules.json')) as InnoIods['ciodToModules'],
    },
  );
  for (const w of [...new Set(iod.warnings)].sort()) {
    console.warn(`iod-types: ${w}`);
  }
  const iodDoc = jsonDoc(
    {
      notice: `Attribute Types from DICOM PS3.3 as transcribed by dicom3tools ${version} (c) David A. Clunie (BSD); PS3.3 (c) NEMA. Generated by ${GENERATED_BY}: do not edit, regenerate. See NOTICE-NEMA.md.`,
      simplification:
        'For each IOD, the strongest Type (1 > 1C > 2 > 2C > 3) with which a tag appears at the top level of any of its modules (macros invoked at the top level included, module usage and conditions ignored, sequence contents not considered). Only tags whose basic-profile code in e1_1.json is Z/D, X/Z, X/D, X/Z/D or X/Z/U* are listed. "global" is the strongest Type in any IOD, for SOP Classes not listed.',
      source: {
        ...d3.provenance(),
        version,
        license: 'BSD-3-Clause (dicom3tools COPYRIGHT)',
        moduleListsFrom: { ...inno.provenance(), license: 'MIT' },
      },
      generatedBy: GENERATED_BY,
      types: TYPES,
      tags: [...combined].sort(),
      global: iod.global,
    },
    'iods',
    sortObject(iod.iods),
  );

  const license = (src: Source, path: string): string => src.read(path);
  const noticeDoc = noticeMarkdown({
    e11Edition: edition,
    e3Edition: p15Edition,
    d3Version: version,
    generatedBy: GENERATED_BY,
    innoliticsLicense: license(inno, 'LICENSE.txt'),
    d3Copyright: license(d3, 'COPYRIGHT'),
    innolitics: inno.provenance(),
    part15: p15.provenance(),
    dicom3tools: d3.provenance(),
  });

  const outputs: [string, string][] = [
    ['e1_1.json', e11Doc],
    ['e3_10_1.json', e3Doc],
    ['iod-types.json', iodDoc],
    ['NOTICE-NEMA.md', noticeDoc],
  ];
  let stale = 0;
  for (const [name, text] of outputs) {
    const path = join(out, name);
    if (values.check) {
      const same = existsSync(path) && readFileSync(path, 'utf8') === text;
      if (!same) {
        stale++;
      }
      console.log(`${same ? 'same ' : 'DIFFERS'} ${path}`);
    } else {
      mkdirSync(out, { recursive: true });
      writeFileSync(path, text);
      console.log(`wrote ${path} (${String(Buffer.byteLength(text))} bytes)`);
    }
  }
  const sopCount = Object.values(iod.iods).reduce((n, e) => n + e.sopClasses.length, 0);
  console.log(
    `E.1-1 ${edition}: ${String(e11.length)} rows; E.3.10-1 ${p15Edition}: ${String(safe.length)} rows; iod-types: ${String(Object.keys(iod.iods).length)} IODs, ${String(sopCount)} SOP Classes, ${String(combined.size)} tags`,
  );
  if (stale) {
    process.exit(1);
  }
}

/** Row keys in a fixed order whatever order the source had them in. */
function orderRow(r: E11Row): Record<string, unknown> {
  const o: Record<string, unknown> = { tag: r.tag };
  if (r.private) {
    o.private = true;
  }
  Object.assign(o, { name: r.name, retired: r.retired, inStdCompIOD: r.inStdCompIOD });
  for (const k of Object.keys(COLUMNS) as (keyof typeof COLUMNS)[]) {
    if (r[k]) {
      o[k] = r[k];
    }
  }
  return o;
}

function sortObject<T>(o: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

main();
