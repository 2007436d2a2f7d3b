//! Subject and session label patterns of the pseudonym ledger: which tokens they may use and how they are filled.
// Checked when the config is loaded (config/anonymise.ts) and filled when the ledger assigns a
// label (sqlite/pseudonyms.ts), so a pattern the daemon accepts is one the ledger can use.
import { xnatSafeLabel } from '../dicom/labels.ts';

/** Tokens a subject label pattern may use, e.g. `{project}_{seq:06}`. */
export const SUBJECT_PATTERN_TOKENS = ['project', 'seq'] as const;
/** Tokens a session label pattern may use, e.g. `{subject}_{seq:02}` (seq counted per subject). */
export const SESSION_PATTERN_TOKENS = ['project', 'subject', 'seq'] as const;

const TOKEN = /\{([A-Za-z]+)(?::0([1-9][0-9]?))?\}/g;

/**
 * Checks a label pattern: every `{…}` is one of `allowed` (`{seq}` also as `{seq:0N}`, zero-padded
 * to N digits), there is no stray brace, and `{seq}` is present (without it every patient would
 * get the same label). Returns a problem description, or null when the pattern is usable.
 */
export function validatePattern(pattern: string, allowed: readonly string[]): string | null {
  const tokens = [...pattern.matchAll(TOKEN)];
  for (const t of tokens) {
    const name = t[1] ?? '';
    if (!allowed.includes(name)) {
      return `unknown token {${name}} in "${pattern}" (allowed: ${allowed.map((a) => `{${a}}`).join(', ')})`;
    }
    if (t[2] !== undefined && name !== 'seq') {
      return `only {seq} takes a width, as in {seq:06} ("${pattern}")`;
    }
  }
  if (/[{}]/.test(pattern.replace(TOKEN, ''))) {
    return `unbalanced or malformed brace in "${pattern}" (tokens look like {project} or {seq:06})`;
  }
  if (!tokens.some((t) => t[1] === 'seq')) {
    return `"${pattern}" has no {seq}, so it would give every ${allowed.includes('subject') ? 'session' : 'subject'} the same label`;
  }
  return null;
}

/** Fills a validated pattern; the result is mapped to XNAT-safe characters. Throws on a bad pattern. */
export function render(
  pattern: string,
  allowed: readonly string[],
  values: Record<string, string>,
  seq: number,
): string {
  const problem = validatePattern(pattern, allowed);
  if (problem) {
    throw new Error(`Invalid label pattern: ${problem}.`);
  }
  return xnatSafeLabel(
    pattern.replace(TOKEN, (_m, name: string, width?: string) =>
      name === 'seq' ? String(seq).padStart(Number(width ?? 1), '0') : (values[name] ?? ''),
    ),
  );
}
