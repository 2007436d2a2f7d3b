#!/usr/bin/env node
// Installed entry point: the compiled CLI when built, the TypeScript sources otherwise (Node >= 22.18 strips types).
import { existsSync } from 'node:fs';
const built = new URL('../dist/cli/main.js', import.meta.url);
await import(existsSync(built) ? built.href : new URL('../src/cli/main.ts', import.meta.url).href);
