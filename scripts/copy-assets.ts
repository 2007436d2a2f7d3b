// Copies the non-TypeScript files the daemon reads at run time (SQL migrations) next to the compiled JS.
import { cpSync, readdirSync } from 'node:fs';

const from = new URL('../src/queue/migrations/', import.meta.url);
const to = new URL('../dist/queue/migrations/', import.meta.url);
for (const f of readdirSync(from).filter((n) => n.endsWith('.sql'))) {cpSync(new URL(f, from), new URL(f, to));}
