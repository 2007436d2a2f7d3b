//! Cookie parsing and the console's Set-Cookie attributes (HttpOnly, SameSite=Strict, whole site).

/** Cookies of a request as name → value (the first of a repeated name wins). */
export function parseCookies(header: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq <= 0) {
      continue;
    }
    const name = part.slice(0, eq).trim();
    if (!out.has(name)) {
      out.set(name, part.slice(eq + 1).trim());
    }
  }
  return out;
}

/**
 * A Set-Cookie value: HttpOnly (no script reads it), SameSite=Strict (never sent with a request
 * another site starts, which is the first line of CSRF defence), Path=/; a session cookie unless
 * `maxAgeSeconds` is given (0 deletes it). `secure` adds Secure when the console is reached over TLS.
 */
export function setCookie(name: string, value: string, o: { maxAgeSeconds?: number; secure?: boolean } = {}): string {
  const parts = [`${name}=${value}`, 'Path=/', 'HttpOnly', 'SameSite=Strict'];
  if (o.maxAgeSeconds !== undefined) {
    parts.push(`Max-Age=${String(o.maxAgeSeconds)}`);
  }
  if (o.secure) {
    parts.push('Secure');
  }
  return parts.join('; ');
}
