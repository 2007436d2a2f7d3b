// Copies the non-TypeScript files the daemon reads at run time (SQL migrations, the I/O thread's
// code, the console's templates and assets) next to the compiled JS, and the NEMA notice next to
// the PS3.15 tables (tsc emits the JSON itself, since table-load.ts imports it): the DICOM excerpts
// must not travel without their attribution.
// Usage: node scripts/copy-assets.ts [OUT_DIR]   (default dist/, beside this folder)
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const copies: [from: string, to: string, keep: (name: string) => boolean][] = [
  ['../src/queue/migrations/', '../dist/queue/migrations/', (n) => n.endsWith('.sql')],
  // The I/O thread's code is plain JavaScript, loaded by URL (src/dicom/io-thread.ts).
  ['../src/dicom/', '../dist/dicom/', (n) => n === 'io-thread-worker.js'],
  ['../src/transforms/anonymise/standard/', '../dist/transforms/anonymise/standard/', (n) => n.endsWith('.json') || n.endsWith('.md')],
  // The console's templates and its own CSS and script (htmx is served from node_modules).
  ['../src/status/console/templates/', '../dist/status/console/templates/', (n) => n.endsWith('.eta')],
  ['../src/status/console/assets/', '../dist/status/console/assets/', (n) => n.endsWith('.css') || n.endsWith('.js')],
];
// Another output folder (a test building a production copy elsewhere) replaces ../dist/.
const outDir = process.argv[2] === undefined ? null : pathToFileURL(`${process.argv[2].replace(/\/+$/, '')}/`);
for (const [fromRel, toRel, keep] of copies) {
  const from = new URL(fromRel, import.meta.url);
  const to = outDir ? new URL(toRel.replace('../dist/', ''), outDir) : new URL(toRel, import.meta.url);
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from).filter(keep)) {cpSync(new URL(f, from), new URL(f, to));}
}
