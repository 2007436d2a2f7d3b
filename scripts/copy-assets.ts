// Copies the non-TypeScript files the daemon reads at run time (SQL migrations, the I/O thread's
// code, the console's templates and assets) next to the compiled JS, and the NEMA notice next to
// the PS3.15 tables (tsc emits the JSON itself, since table-load.ts imports it): the DICOM excerpts
// must not travel without their attribution.
// `node scripts/copy-assets.ts [OUT_DIR]`: OUT_DIR defaults to dist/ (tests build elsewhere).
import { cpSync, mkdirSync, readdirSync } from 'node:fs';
import { pathToFileURL } from 'node:url';

const outDir =
  process.argv[2] === undefined
    ? new URL('../dist/', import.meta.url)
    : pathToFileURL(`${process.argv[2].replace(/\/$/, '')}/`);

const copies: [from: string, to: string, keep: (name: string) => boolean][] = [
  ['../src/store/sqlite/migrations/', 'store/sqlite/migrations/', (n) => n.endsWith('.sql')],
  // The I/O thread's code is plain JavaScript, loaded by URL (src/dicom/io-thread.ts).
  ['../src/dicom/', 'dicom/', (n) => n === 'io-thread-worker.js'],
  [
    '../src/transforms/anonymise/standard/',
    'transforms/anonymise/standard/',
    (n) => n.endsWith('.json') || n.endsWith('.md'),
  ],
  // The console's templates and its own CSS and script (htmx is served from node_modules).
  ['../src/status/console/templates/', 'status/console/templates/', (n) => n.endsWith('.eta')],
  ['../src/status/console/assets/', 'status/console/assets/', (n) => n.endsWith('.css') || n.endsWith('.js')],
];
for (const [fromRel, toRel, keep] of copies) {
  const from = new URL(fromRel, import.meta.url);
  const to = new URL(toRel, outDir);
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from).filter(keep)) {
    cpSync(new URL(f, from), new URL(f, to));
  }
}
