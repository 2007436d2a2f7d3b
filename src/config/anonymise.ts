//! Resolves and checks the anonymise section: key directory, DicomEdit scripts (parsed now, so a bad
//! statement is a config error with line and column, never a surprise at run time) and label patterns.
import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { SESSION_PATTERN_TOKENS, SUBJECT_PATTERN_TOKENS, validatePattern } from '../store/pseudonym-pattern.ts';
import type { AnonymiseConfig } from '../transforms/anonymise/config.ts';
import { parseScript } from '../transforms/anonymise/dicomedit/parser.ts';

const SCRIPT_VARIABLES = ['project', 'subject', 'session'];

function checkScript(key: string, file: string, problems: string[]): void {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    problems.push(`${key}: cannot read DicomEdit script ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
    return;
  }
  try {
    // The gateway provides exactly these variables (XNAT's own); any other would fail every instance.
    const unknown = parseScript(text).variables.filter((v) => !SCRIPT_VARIABLES.includes(v));
    if (unknown.length) {
      problems.push(
        `${key}: ${file}: uses variables the gateway does not provide: ${unknown.join(', ')} (available: ${SCRIPT_VARIABLES.join(', ')})`,
      );
    }
  } catch (err) {
    problems.push(`${key}: ${file}: ${(err as Error).message}`);
  }
}

function checkPatterns(
  key: string,
  p: { subjectPattern?: string | undefined; sessionPattern?: string | undefined } | undefined,
  problems: string[],
): void {
  if (p?.subjectPattern !== undefined) {
    const e = validatePattern(p.subjectPattern, SUBJECT_PATTERN_TOKENS);
    if (e) {
      problems.push(`${key}.subjectPattern: ${e}`);
    }
  }
  if (p?.sessionPattern !== undefined) {
    const e = validatePattern(p.sessionPattern, SESSION_PATTERN_TOKENS);
    if (e) {
      problems.push(`${key}.sessionPattern: ${e}`);
    }
  }
}

/** Absolute keysDir (default <dataDir>/keys) and script paths (relative to the config file). */
export function resolveAnonymisePaths(
  a: AnonymiseConfig,
  dataDir: string,
  baseDir: string,
  problems: string[],
): AnonymiseConfig {
  const abs = (p: string): string => (isAbsolute(p) ? p : resolve(baseDir, p));
  const script = a.script === null ? null : abs(a.script);
  if (script) {
    checkScript('anonymise.script', script, problems);
  }
  checkPatterns('anonymise.pseudonyms', a.pseudonyms, problems);
  const projects: AnonymiseConfig['projects'] = {};
  for (const [name, p] of Object.entries(a.projects)) {
    const s = p.script === undefined || p.script === null ? p.script : abs(p.script);
    if (s) {
      checkScript(`anonymise.projects.${name}.script`, s, problems);
    }
    checkPatterns(`anonymise.projects.${name}.pseudonyms`, p.pseudonyms, problems);
    projects[name] = s === undefined ? p : { ...p, script: s };
  }
  return { ...a, script, projects, keysDir: resolve(dataDir, a.keysDir ?? 'keys') };
}
