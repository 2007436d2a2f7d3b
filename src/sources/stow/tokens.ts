//! The STOW-RS senders' bearer tokens: a secret file of `name:token` lines, checked in constant time.
// The file is read at start-up (config load) and again whenever it changes (size, mtime or inode),
// so adding or revoking a sender needs no restart. A file that becomes unreadable, readable by
// others or malformed makes every request fail with 503 until it is fixed: the senders retry, and
// nobody is let in on a stale list.
import { closeSync, fstatSync, openSync, readFileSync, statSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';

/** Shorter tokens are refused: they could be guessed. */
export const MIN_TOKEN_LENGTH = 16;
const NAME = /^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$/;

export class TokenFileError extends Error {
  override readonly name = 'TokenFileError';
}

interface Entry {
  readonly name: string;
  readonly digest: Buffer;
}

const digest = (s: string): Buffer => createHash('sha256').update(s, 'utf8').digest();

/** Parses the file's text; throws TokenFileError naming the line of the first problem. */
export function parseTokenFile(text: string, file: string): Entry[] {
  const out: Entry[] = [];
  const names = new Set<string>();
  const tokens = new Set<string>();
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      return;
    }
    const where = `${file} line ${String(i + 1)}`;
    const colon = line.indexOf(':');
    if (colon <= 0) {
      throw new TokenFileError(`${where}: expected name:token`);
    }
    const name = line.slice(0, colon).trim();
    const token = line.slice(colon + 1).trim();
    if (!NAME.test(name)) {
      throw new TokenFileError(
        `${where}: the name must be 1–64 letters, digits, . _ @ - (it is recorded as the sender)`,
      );
    }
    if (token.length < MIN_TOKEN_LENGTH || /\s/.test(token)) {
      throw new TokenFileError(
        `${where}: the token must be at least ${String(MIN_TOKEN_LENGTH)} characters without spaces (e.g. openssl rand -hex 32)`,
      );
    }
    if (names.has(name)) {
      throw new TokenFileError(`${where}: the name ${name} is used twice`);
    }
    if (tokens.has(token)) {
      throw new TokenFileError(`${where}: this token is already given to another name`);
    }
    names.add(name);
    tokens.add(token);
    out.push({ name, digest: digest(token) });
  });
  if (out.length === 0) {
    throw new TokenFileError(`${file}: holds no name:token line`);
  }
  return out;
}

/** Reads and checks the file (mode 0600 or stricter, well-formed); throws TokenFileError. */
export function readTokenFile(file: string): Entry[] {
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (err) {
    throw new TokenFileError(`cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    // The mode checked is that of the file read (one descriptor for both).
    const mode = fstatSync(fd).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      throw new TokenFileError(`${file} is readable by others (mode ${mode.toString(8)}); chmod 600 it`);
    }
    return parseTokenFile(readFileSync(fd, 'utf8'), file);
  } finally {
    closeSync(fd);
  }
}

export type TokenCheck =
  | { readonly ok: true; readonly name: string }
  /** 401: no bearer credentials; 403: credentials that are not valid; 503: the token file is broken. */
  | { readonly ok: false; readonly status: 401 | 403 | 503; readonly message: string };

export interface TokenStore {
  /** Checks an Authorization header value. */
  check(authorization: string | undefined): TokenCheck;
}

/** Tokens of `file`, loaded now (throws TokenFileError) and reloaded when the file changes. */
export function createTokenStore(file: string, onReloadError: (err: TokenFileError) => void): TokenStore {
  const stamp = (): string => {
    try {
      const st = statSync(file);
      return `${String(st.ino)}:${String(st.size)}:${String(st.mtimeMs)}:${String(st.mode)}`;
    } catch {
      return 'missing';
    }
  };
  let seen = stamp();
  let entries: Entry[] | null = readTokenFile(file);
  function current(): Entry[] | null {
    const now = stamp();
    if (now === seen) {
      return entries;
    }
    seen = now;
    try {
      entries = readTokenFile(file);
    } catch (err) {
      if (!(err instanceof TokenFileError)) {
        throw err;
      }
      entries = null;
      onReloadError(err);
    }
    return entries;
  }
  return {
    check(authorization) {
      const m = /^Bearer[ \t]+([A-Za-z0-9\-._~+/]+=*)[ \t]*$/i.exec(authorization ?? '');
      if (!m?.[1]) {
        return { ok: false, status: 401, message: 'A bearer token is required (Authorization: Bearer <token>).' };
      }
      const list = current();
      // The detail (path, line) went to the log; an unauthenticated client learns only that it must wait.
      if (!list) {
        return { ok: false, status: 503, message: 'Tokens cannot be checked right now; try again later.' };
      }
      const given = digest(m[1]);
      let name: string | null = null;
      // Every entry is compared, fixed-length digests, no early exit: timing tells nothing.
      for (const e of list) {
        if (timingSafeEqual(given, e.digest) && name === null) {
          name = e.name;
        }
      }
      return name === null ? { ok: false, status: 403, message: 'The bearer token is not valid.' } : { ok: true, name };
    },
  };
}
