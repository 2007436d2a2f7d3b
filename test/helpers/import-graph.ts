//! Reads the import graph of src/ (type-only imports included) and checks it against a layer table.
// TypeScript's own pre-processor finds every module reference: `import`, `import type`,
// `export … from`, and `import()`; the graph therefore sees the type-only circles a bundler
// (which erases types) would not.
import { readdirSync, readFileSync } from 'node:fs';
import { join, posix, relative, sep } from 'node:path';
import ts from 'typescript';

/** File → the files of the graph it references (relative specifiers only; packages are not nodes). */
export type ImportGraph = ReadonlyMap<string, readonly string[]>;

/** The relative module specifiers a TypeScript source references. */
export function relativeSpecifiers(text: string): string[] {
  const info = ts.preProcessFile(text, true, true);
  return info.importedFiles.map((f) => f.fileName).filter((s) => s.startsWith('./') || s.startsWith('../'));
}

/**
 * Builds the graph from `files` (POSIX path → source text). A specifier that names no file of the
 * set (an asset, a package) is not an edge.
 */
export function buildGraph(files: ReadonlyMap<string, string>): ImportGraph {
  const graph = new Map<string, string[]>();
  for (const [path, text] of files) {
    const targets = relativeSpecifiers(text)
      .map((s) => posix.normalize(posix.join(posix.dirname(path), s)))
      .filter((t) => files.has(t));
    graph.set(path, [...new Set(targets)]);
  }
  return graph;
}

/** Every .ts file under `root`/`dir`, keyed by its POSIX path relative to `root`. */
export function readSources(root: string, dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (d: string): void => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) {
        walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) {
        files.set(relative(root, p).split(sep).join('/'), readFileSync(p, 'utf8'));
      }
    }
  };
  walk(join(root, dir));
  return files;
}

/** The import circles: strongly connected groups of more than one file, or a file importing itself. */
export function findCycles(graph: ImportGraph): string[][] {
  // Tarjan's algorithm, iterative so that a deep graph cannot overflow the stack.
  let counter = 0;
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  for (const start of graph.keys()) {
    if (index.has(start)) {
      continue;
    }
    const work: { node: string; next: number }[] = [{ node: start, next: 0 }];
    index.set(start, counter);
    low.set(start, counter++);
    stack.push(start);
    onStack.add(start);
    while (work.length > 0) {
      const frame = work[work.length - 1];
      if (!frame) {
        break;
      }
      const edges = graph.get(frame.node) ?? [];
      if (frame.next < edges.length) {
        const to = edges[frame.next++] as string;
        if (!index.has(to)) {
          index.set(to, counter);
          low.set(to, counter++);
          stack.push(to);
          onStack.add(to);
          work.push({ node: to, next: 0 });
        } else if (onStack.has(to)) {
          low.set(frame.node, Math.min(low.get(frame.node) ?? 0, index.get(to) ?? 0));
        }
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent) {
        low.set(parent.node, Math.min(low.get(parent.node) ?? 0, low.get(frame.node) ?? 0));
      }
      if (low.get(frame.node) === index.get(frame.node)) {
        const group: string[] = [];
        let member: string | undefined;
        do {
          member = stack.pop();
          if (member !== undefined) {
            onStack.delete(member);
            group.push(member);
          }
        } while (member !== undefined && member !== frame.node);
        if (group.length > 1 || edges.includes(frame.node)) {
          cycles.push(group.sort());
        }
      }
    }
  }
  return cycles;
}

/**
 * Layers from the bottom floor up; each entry lists the areas on that floor. An area is a top-level
 * file ('errors.ts'), a top-level folder ('store'), or one component folder ('sources/dimse'),
 * written 'sources/*' for all of a kind.
 */
export type LayerTable = readonly (readonly string[])[];

/** The area a file belongs to: its component folder, its top-level folder, or the file itself. */
export function areaOf(path: string, root = 'src'): string {
  const parts = path.slice(root.length + 1).split('/');
  const [first, second] = parts;
  if (parts.length === 1 || first === undefined) {
    return parts[0] ?? path;
  }
  if (second !== undefined && parts.length > 2 && ['sources', 'sinks', 'transforms'].includes(first)) {
    return `${first}/${second}`;
  }
  return first;
}

function layerOf(table: LayerTable, area: string): number {
  return table.findIndex((floor) =>
    floor.some((a) => a === area || (a.endsWith('/*') && area.startsWith(a.slice(0, -1)))),
  );
}

/**
 * The imports the table forbids: an import to a higher floor, or across areas on the same floor
 * (components do not know each other, STYLE §3.2), and files in an area the table does not place.
 */
export function layerViolations(graph: ImportGraph, table: LayerTable, root = 'src'): string[] {
  const problems: string[] = [];
  for (const [from, targets] of graph) {
    const fromArea = areaOf(from, root);
    const fromLayer = layerOf(table, fromArea);
    if (fromLayer < 0) {
      problems.push(`${from}: area '${fromArea}' is on no layer of the table`);
      continue;
    }
    for (const to of targets) {
      const toArea = areaOf(to, root);
      if (toArea === fromArea) {
        continue;
      }
      const toLayer = layerOf(table, toArea);
      if (toLayer > fromLayer) {
        problems.push(
          `${from} → ${to}: '${fromArea}' (layer ${String(fromLayer)}) imports a higher layer ('${toArea}', ${String(toLayer)})`,
        );
      } else if (toLayer === fromLayer) {
        problems.push(
          `${from} → ${to}: '${fromArea}' and '${toArea}' share layer ${String(fromLayer)} and must not import each other`,
        );
      }
    }
  }
  return problems;
}
