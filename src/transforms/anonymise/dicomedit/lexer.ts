//! Splits a DicomEdit 6 script into tokens: tags, strings, numbers, names, punctuation, line ends.
// Hand-written after DicomEdit's ANTLR lexer (DE6Lexer.g4). Two deliberate leniencies, both
// unambiguous: spaces are allowed inside a tag's parentheses, and a private creator may hold any
// character but `}` (DicomEdit allows letters, digits and ` -_.:` only).
import { ScriptError, type Pos } from './errors.ts';
import type { TagPattern } from './tags.ts';

export type Punct =
  | ':='
  | '?='
  | '='
  | '!='
  | '~'
  | '!~'
  | '?'
  | ':'
  | '-'
  | '['
  | ']'
  | '('
  | ')'
  | '{'
  | '}'
  | ','
  | '/'
  | '%'
  | '*'
  | '+'
  | '.';

export type Token =
  | { readonly kind: 'tag'; readonly tag: TagPattern; readonly at: Pos }
  | { readonly kind: 'string'; readonly value: string; readonly at: Pos }
  | { readonly kind: 'number' | 'id'; readonly text: string; readonly at: Pos }
  | { readonly kind: 'punct'; readonly text: Punct; readonly at: Pos }
  | { readonly kind: 'newline' | 'eof'; readonly at: Pos };

const DIGIT = '[0-9A-Fa-fXx#@]';
const TAG = new RegExp(
  `\\([ \\t]*(${DIGIT}{4})[ \\t]*,[ \\t]*(?:\\{([^}\\r\\n]*)\\}[ \\t]*(${DIGIT}{2})|(${DIGIT}{4}))[ \\t]*\\)`,
  'y',
);
// Something that starts like a tag but is not one: report it as a malformed tag, not as a stray "(".
const TAG_START = new RegExp(`\\([ \\t]*${DIGIT}+[ \\t]*,`, 'y');
const NUMBER = /-?\d+(?:\.\d+)?/y;
const NAME = /[A-Za-z_][A-Za-z0-9_]*/y;
const TWO_CHAR = new Set([':=', '?=', '!=', '!~']);
const ONE_CHAR = new Set('=~?:-[](){},/%*+.');
// DicomEdit keeps an escape as written (only `\\` becomes `\`), so a regex can say "\(" or "\\d".
// We accept its escapes (and the older `\"`, `\'`, `\u` with four hex digits) and reject the rest at load time.
const KEPT_ESCAPES = new Set("nrtbf()'");

/** Tokens, ending with one 'eof'. Throws ScriptError at the first character that cannot start one. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let line = 1;
  let lineStart = 0;
  let i = text.startsWith('\uFEFF') ? 1 : 0;
  const at = (index: number): Pos => ({ line, column: index - lineStart + 1 });
  const sticky = (re: RegExp): RegExpExecArray | null => {
    re.lastIndex = i;
    return re.exec(text);
  };

  while (i < text.length) {
    const c = text.charAt(i);
    if (c === ' ' || c === '\t' || c === '\f' || (c === '\r' && text.charAt(i + 1) !== '\n')) {
      i++;
    } else if (c === '\n' || c === '\r') {
      tokens.push({ kind: 'newline', at: at(i) });
      i += c === '\r' ? 2 : 1;
      line++;
      lineStart = i;
    } else if (text.startsWith('//', i)) {
      while (i < text.length && text.charAt(i) !== '\n' && text.charAt(i) !== '\r') {
        i++;
      }
    } else if (c === '"') {
      const { value, end } = readString(text, i, at);
      tokens.push({ kind: 'string', value, at: at(i) });
      i = end;
    } else if (c === '(' && sticky(TAG)) {
      const m = sticky(TAG);
      tokens.push({ kind: 'tag', tag: tagPattern(m, at(i)), at: at(i) });
      i += m?.[0].length ?? 1;
    } else if (c === '(' && sticky(TAG_START)) {
      throw new ScriptError('malformed tag: expected (gggg,eeee) or (gggg,{Creator}xx)', at(i));
    } else if (/\d/.test(c) || (c === '-' && /\d/.test(text.charAt(i + 1)))) {
      const m = sticky(NUMBER)?.[0] ?? c;
      tokens.push({ kind: 'number', text: m, at: at(i) });
      i += m.length;
    } else if (/[A-Za-z_]/.test(c)) {
      const m = sticky(NAME)?.[0] ?? c;
      tokens.push({ kind: 'id', text: m, at: at(i) });
      i += m.length;
    } else if (TWO_CHAR.has(text.slice(i, i + 2))) {
      tokens.push({ kind: 'punct', text: text.slice(i, i + 2) as Punct, at: at(i) });
      i += 2;
    } else if (ONE_CHAR.has(c)) {
      tokens.push({ kind: 'punct', text: c as Punct, at: at(i) });
      i++;
    } else {
      throw new ScriptError(`unexpected character ${JSON.stringify(c)}`, at(i));
    }
  }
  tokens.push({ kind: 'eof', at: at(i) });
  return tokens;
}

function tagPattern(m: RegExpExecArray | null, pos: Pos): TagPattern {
  const [, group = '', creator, low, element] = m ?? [];
  const g = group.toUpperCase();
  if (creator === undefined) {
    return { group: g, element: (element ?? '').toUpperCase() };
  }
  if (creator.trim() === '') {
    throw new ScriptError('empty private creator in a tag', pos);
  }
  // Private creators live in odd groups only; DicomEdit's lexer would not even take this as a tag.
  if (/[02468ACE@]$/.test(g)) {
    throw new ScriptError(`a private creator needs an odd group, not ${g}`, pos);
  }
  return { group: g, creator: creator.trim(), low: (low ?? '').toUpperCase() };
}

function readString(text: string, start: number, at: (i: number) => Pos): { value: string; end: number } {
  let value = '';
  let i = start + 1;
  for (;;) {
    const c = text.charAt(i);
    if (i >= text.length || c === '\n' || c === '\r') {
      throw new ScriptError('unterminated string', at(start));
    }
    if (c === '"') {
      return { value, end: i + 1 };
    }
    if (c !== '\\') {
      value += c;
      i++;
      continue;
    }
    const e = text.charAt(i + 1);
    const octal = /^[0-7]{1,3}/.exec(text.slice(i + 1, i + 4))?.[0];
    const unicode = /^u[0-9A-Fa-f]{4}/.exec(text.slice(i + 1, i + 6))?.[0];
    if (e === '\\' || e === '"') {
      value += e;
      i += 2;
    } else if (KEPT_ESCAPES.has(e) || octal !== undefined || unicode !== undefined) {
      const kept = octal ?? unicode ?? e;
      value += `\\${kept}`;
      i += 1 + kept.length;
    } else {
      throw new ScriptError(
        `unsupported escape "\\${e}" in a string (DicomEdit keeps escapes as written: write "\\\\${e}" for a literal backslash)`,
        at(i),
      );
    }
  }
}
