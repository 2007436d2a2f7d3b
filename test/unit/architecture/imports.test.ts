// The layer rule of docs/architecture.md, checked over src/'s import graph (type-only imports
// included): no import to a higher layer, none across areas of one layer, and no import circles.
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  areaOf,
  buildGraph,
  findCycles,
  layerViolations,
  readSources,
  relativeSpecifiers,
  type LayerTable,
} from '../../helpers/import-graph.ts';

/** src/ from the bottom floor up. A new folder must be placed here before it can be imported. */
const LAYERS: LayerTable = [
  ['errors.ts', 'clock.ts'],
  ['events.ts', 'log.ts', 'durable-fs.ts', 'csv.ts'],
  // Retry arithmetic and circuit breakers: the worker (per sink) and the pull source (per PACS).
  ['resilience'],
  // Shared types: what components, stores and the status server agree on.
  ['contracts'],
  ['dicom'],
  // Stores and protocol clients: they know no component, the pipeline or the status server.
  ['store', 'xnat', 'notify'],
  // Components: one folder each, none knows another.
  ['sources/*', 'transforms/*', 'sinks/*'],
  ['config', 'find'],
  ['spool', 'series'],
  ['pipeline'],
  ['status'],
  // Composition roots, then the command line.
  ['app'],
  ['cli'],
];

const root = join(import.meta.dirname, '..', '..', '..');

describe('the import graph of src/', () => {
  const graph = buildGraph(readSources(root, 'src'));

  it('reads the whole tree', () => {
    expect(graph.size).toBeGreaterThan(200);
    expect(graph.get('src/contracts/component.ts')).toContain('src/contracts/intake.ts');
  });

  it('has no import from a lower layer to a higher one, nor across areas of one layer', () => {
    expect(layerViolations(graph, LAYERS)).toEqual([]);
  });

  it('has no import circle, type-only imports included', () => {
    expect(findCycles(graph)).toEqual([]);
  });
});

describe('the import graph checker', () => {
  // A fixture tree with the violations the rule exists for; each must be reported.
  const fixture = new Map<string, string>([
    ['src/errors.ts', `export const E = 1;`],
    ['src/contracts/a.ts', `import type { S } from '../store/s.ts';\nexport type A = S;`],
    ['src/store/s.ts', `import { E } from '../errors.ts';\nexport type S = typeof E;`],
    ['src/store/r.ts', `import type { T } from '../transforms/route/t.ts';\nexport type R = T;`],
    ['src/transforms/route/t.ts', `export type T = string;\nexport type { U } from '../anonymise/u.ts';`],
    ['src/transforms/anonymise/u.ts', `export type U = number;`],
    ['src/status/server.ts', `import type { D } from './routes/x.ts';\nexport type D0 = D;`],
    ['src/status/routes/x.ts', `import type { D0 } from '../server.ts';\nexport type D = D0;`],
    ['src/status/lazy.ts', `export const load = () => import('./lazy.ts');`],
    ['src/stray/y.ts', `export const y = 1;`],
  ]);
  const table: LayerTable = [['errors.ts'], ['contracts'], ['store'], ['transforms/*'], ['status']];
  const graph = buildGraph(fixture);

  it('finds static, type-only, re-exported and dynamic imports', () => {
    expect(
      relativeSpecifiers(
        `import type { A } from './a.ts';\nexport { B } from '../b.ts';\nawait import('./c.ts');\nimport 'pkg';`,
      ),
    ).toEqual(['./a.ts', '../b.ts', './c.ts']);
  });

  it('names component folders, top-level folders and top-level files as areas', () => {
    expect(areaOf('src/sources/dimse/scp.ts')).toBe('sources/dimse');
    expect(areaOf('src/store/sqlite/jobs.ts')).toBe('store');
    expect(areaOf('src/errors.ts')).toBe('errors.ts');
  });

  it('reports a type-only import to a higher layer, one across components, and an unplaced area', () => {
    expect(layerViolations(graph, table)).toEqual([
      expect.stringMatching(
        /^src\/contracts\/a\.ts → src\/store\/s\.ts: 'contracts' \(layer 1\) imports a higher layer/,
      ),
      expect.stringMatching(
        /^src\/store\/r\.ts → src\/transforms\/route\/t\.ts: 'store' \(layer 2\) imports a higher layer/,
      ),
      expect.stringMatching(/^src\/transforms\/route\/t\.ts → src\/transforms\/anonymise\/u\.ts: .* share layer 3/),
      "src/stray/y.ts: area 'stray' is on no layer of the table",
    ]);
  });

  it('reports a type-only circle and a module importing itself', () => {
    expect(findCycles(graph)).toEqual(
      expect.arrayContaining([['src/status/routes/x.ts', 'src/status/server.ts'], ['src/status/lazy.ts']]),
    );
    expect(findCycles(graph)).toHaveLength(2);
  });

  it('passes a graph that follows the table', () => {
    const clean = buildGraph(
      new Map([
        ['src/errors.ts', ''],
        ['src/store/s.ts', `import { E } from '../errors.ts';`],
        ['src/status/server.ts', `import type { S } from '../store/s.ts';`],
      ]),
    );
    expect(layerViolations(clean, table)).toEqual([]);
    expect(findCycles(clean)).toEqual([]);
  });
});
