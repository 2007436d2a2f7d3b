//! A cursor over a script's tokens, shared by the statement and the tag-path parsers.
import { ScriptError } from './errors.ts';
import type { Punct, Token } from './lexer.ts';

export interface State {
  readonly toks: readonly Token[];
  i: number;
}

export const peek = (s: State, ahead = 0): Token => {
  const t = s.toks[Math.min(s.i + ahead, s.toks.length - 1)];
  if (t === undefined) {
    throw new Error('tokenize always ends with eof');
  }
  return t;
};
export const next = (s: State): Token => {
  const t = peek(s);
  s.i = Math.min(s.i + 1, s.toks.length - 1);
  return t;
};
export const isPunct = (t: Token, ...p: Punct[]): boolean => t.kind === 'punct' && p.includes(t.text);
export const isWord = (t: Token, word: string): boolean => t.kind === 'id' && t.text === word;

/** A token as error messages name it. */
export function describe(t: Token): string {
  switch (t.kind) {
    case 'newline':
      return 'end of line';
    case 'eof':
      return 'end of script';
    case 'string':
      return 'a string';
    case 'tag':
      return 'a tag';
    case 'id':
    case 'number':
    case 'punct':
      return `"${t.text}"`;
  }
}

export function expectPunct(s: State, p: Punct, what: string): Token {
  const t = next(s);
  if (!isPunct(t, p)) {
    throw new ScriptError(`expected "${p}" ${what}, found ${describe(t)}`, t.at);
  }
  return t;
}

export function skipNewlines(s: State): void {
  while (peek(s).kind === 'newline') {
    next(s);
  }
}
