// A production install (`npm ci --omit=dev`, as the image does) has only `dependencies`: every
// package the shipped code loads at run time must be listed there, or it fails on the first use.
import { readdirSync, readFileSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = join(import.meta.dirname, '..', '..');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};

function* sourceFiles(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      yield* sourceFiles(p);
    } else if (/\.(ts|js|mjs|cjs)$/.test(e.name) && !e.name.endsWith('.d.ts')) {
      yield p;
    }
  }
}

/** Module specifiers loaded at run time: static imports/exports (not `import type`), import(), require(). */
export function runtimeSpecifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/^\s*\/\/.*$/gm, '');
  const found: string[] = [];
  const patterns = [
    /^\s*(?:import|export)\s+(?!type\s)(?:[\w*\s{},$]*?\sfrom\s+)?['"]([^'"]+)['"]/gm,
    /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g,
    /\brequire\(\s*['"]([^'"]+)['"]\s*\)/g,
  ];
  for (const re of patterns) {
    for (const m of code.matchAll(re)) {
      found.push(m[1] ?? '');
    }
  }
  return found;
}

/** `@scope/name/sub` → `@scope/name`; `name/sub` → `name`. */
function packageOf(spec: string): string {
  const parts = spec.split('/');
  return spec.startsWith('@') ? parts.slice(0, 2).join('/') : (parts[0] ?? spec);
}

describe('run-time dependencies', () => {
  it('finds imports, dynamic imports and requires, but not type-only imports', () => {
    const text = `import a from 'alpha';\nimport type { B } from 'beta';\nimport { c,\n d } from 'gamma/sub';\nexport { e } from '@s/epsilon';\nconst z = require('zeta');\nawait import('eta');\n// import x from 'commented';\nimport 'side-effect';`;
    expect(runtimeSpecifiers(text).sort()).toEqual(['@s/epsilon', 'alpha', 'eta', 'gamma/sub', 'side-effect', 'zeta']);
  });

  it('lists every package that src/ and bin/ load in "dependencies" (a production install has nothing else)', () => {
    const builtins = new Set(builtinModules);
    const missing: string[] = [];
    for (const dir of ['src', 'bin']) {
      for (const file of sourceFiles(join(root, dir))) {
        for (const spec of runtimeSpecifiers(readFileSync(file, 'utf8'))) {
          if (spec.startsWith('.') || spec.startsWith('node:') || builtins.has(spec)) {
            continue;
          }
          const name = packageOf(spec);
          if (!(name in pkg.dependencies)) {
            missing.push(
              `${relative(root, file)} loads '${spec}', but ${name} is ${name in pkg.devDependencies ? 'only a devDependency' : 'not a dependency'}`,
            );
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('pins every dependency exactly', () => {
    for (const [name, version] of Object.entries({ ...pkg.dependencies, ...pkg.devDependencies })) {
      expect(version, name).toMatch(/^\d+\.\d+\.\d+$/);
    }
  });

  it('builds the image on the Node the launcher provisions (Dockerfile NODE_VERSION = NODE_PIN)', () => {
    const pin = /^NODE_PIN="([\d.]+)"/m.exec(readFileSync(join(root, 'bin/node-select.sh'), 'utf8'))?.[1];
    const docker = /^ARG NODE_VERSION=([\d.]+)$/m.exec(readFileSync(join(root, 'Dockerfile'), 'utf8'))?.[1];
    expect(pin).toMatch(/^24\./);
    expect(docker).toBe(pin);
  });
});
