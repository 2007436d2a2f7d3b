// Copies the non-TypeScript files the daemon reads at run time (SQL migrations, the I/O thread's
// code) next to the compiled JS, and the NEMA notice next to the PS3.15 tables (tsc emits the JSON
// itself, since table-load.ts imports it): the DICOM excerpts must not travel without their
// attribution.
import { cpSync, mkdirSync, readdirSync } from 'node:fs';

const copies: [from: string, to: string, keep: (name: string) => boolean][] = [
  ['../src/queue/migrations/', '../dist/queue/migrations/', (n) => n.endsWith('.sql')],
  // The I/O thread's code is plain JavaScript, loaded by URL (src/dicom/io-thread.ts).
  ['../src/dicom/', '../dist/dicom/', (n) => n === 'io-thread-worker.js'],
  ['../src/transforms/anonymise/standard/', '../dist/transforms/anonymise/standard/', (n) => n.endsWith('.json') || n.endsWith('.md')],
];
for (const [fromRel, toRel, keep] of copies) {
  const from = new URL(fromRel, import.meta.url);
  const to = new URL(toRel, import.meta.url);
  mkdirSync(to, { recursive: true });
  for (const f of readdirSync(from).filter(keep)) {cpSync(new URL(f, from), new URL(f, to));}
}
