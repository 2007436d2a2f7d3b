//! Console sign-in: a name and password checked against the admin token file or the password file.
// Two sources, either or both configured:
// - http.adminTokenFile, `name:token` lines (the bearer tokens of the API): the token is the password;
// - http.passwordFile, `name:scrypt$N$r$p$salt$hash` lines (made by `xnat-gateway hash-password`).
// Both files are read at every sign-in (a revoked line takes effect at once) and must not be
// readable by group or others. Unknown names cost the same scrypt work as known ones.
import { randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { readFile, stat } from 'node:fs/promises';
import { checkAdmin } from './admin-auth.ts';

const DEFAULT = { N: 2 ** 15, r: 8, p: 1 };
const KEY_BYTES = 32;
const SALT_BYTES = 16;

function scrypt(password: string, salt: Buffer, o: { N: number; r: number; p: number }): Promise<Buffer> {
  const opts: ScryptOptions = { N: o.N, r: o.r, p: o.p, maxmem: 256 * o.N * o.r + 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scryptCb(password.normalize('NFC'), salt, KEY_BYTES, opts, (err, key) => {
      if (err) {
        reject(err);
      } else {
        resolve(key);
      }
    });
  });
}

/** A password file line's hash part: `scrypt$N$r$p$<salt base64>$<key base64>`. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(SALT_BYTES);
  const key = await scrypt(password, salt, DEFAULT);
  return `scrypt$${String(DEFAULT.N)}$${String(DEFAULT.r)}$${String(DEFAULT.p)}$${salt.toString('base64')}$${key.toString('base64')}`;
}

interface Parsed {
  N: number;
  r: number;
  p: number;
  salt: Buffer;
  key: Buffer;
}

/** Parses a hash; null when it is not one this code makes (bounded parameters: a bad file cannot exhaust memory). */
export function parseHash(text: string): Parsed | null {
  const m = /^scrypt\$(\d+)\$(\d+)\$(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/.exec(text.trim());
  if (!m) {
    return null;
  }
  const [N, r, p] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const key = Buffer.from(m[5] ?? '', 'base64');
  const powerOfTwo = N >= 2 ** 10 && N <= 2 ** 20 && (N & (N - 1)) === 0;
  if (!powerOfTwo || r < 1 || r > 32 || p < 1 || p > 16 || key.length !== KEY_BYTES) {
    return null;
  }
  return { N, r, p, salt: Buffer.from(m[4] ?? '', 'base64'), key };
}

/** Parses `name:hash` lines; `#` comments and blank lines are skipped. */
export function parsePasswordFile(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const colon = line.indexOf(':');
    if (colon > 0 && !out.has(line.slice(0, colon).trim())) {
      out.set(line.slice(0, colon).trim(), line.slice(colon + 1).trim());
    }
  }
  return out;
}

export type SignInResult =
  { readonly ok: true; readonly who: string } | { readonly ok: false; readonly message: string };

export interface CredentialFiles {
  readonly adminTokenFile: string | null;
  readonly passwordFile: string | null;
}

/** Checks `name` + `password`; the message of a refusal never says which part was wrong. */
export async function verifySignIn(files: CredentialFiles, name: string, password: string): Promise<SignInResult> {
  const refused: SignInResult = { ok: false, message: 'The name or password is not right.' };
  if (files.adminTokenFile === null && files.passwordFile === null) {
    return { ok: false, message: 'Sign-in is not set up: set http.adminTokenFile or http.passwordFile.' };
  }
  if (!name || !password) {
    return refused;
  }
  let hash: Parsed | null = null;
  if (files.passwordFile !== null) {
    try {
      const st = await stat(files.passwordFile);
      if ((st.mode & 0o077) !== 0) {
        return {
          ok: false,
          message: 'The password file is readable by others; sign-in is refused until it is chmod 600.',
        };
      }
      const line = parsePasswordFile(await readFile(files.passwordFile, 'utf8')).get(name);
      hash = line === undefined ? null : parseHash(line);
    } catch (err) {
      return {
        ok: false,
        message: `The password file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
      };
    }
  }
  // Always one scrypt computation, so the answer time does not tell whether the name exists.
  const key = await scrypt(password, hash?.salt ?? Buffer.alloc(SALT_BYTES), hash ?? DEFAULT);
  if (hash && timingSafeEqual(key, hash.key)) {
    return { ok: true, who: name };
  }
  if (files.adminTokenFile !== null && !/\s/.test(password)) {
    const auth = checkAdmin(files.adminTokenFile, `Bearer ${password}`);
    if (auth.ok && auth.who === name) {
      return { ok: true, who: name };
    }
  }
  return refused;
}
