//! Bearer tokens for the admin endpoints, read from a secret file (never from config or the command line).
// The file holds one token per line, `name:token` or a bare token (named `admin`); `#` comments and
// blank lines are ignored. It is re-read on every admin request, so adding or revoking a token needs
// no restart. The name is what the audit records as "who". Its mode is checked at every read too
// (not only at start-up): a file someone made group- or world-readable since is refused until fixed.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';

export type AdminAuth =
  | { readonly ok: true; readonly who: string }
  | { readonly ok: false; readonly status: 401 | 403; readonly message: string };

function digest(s: string): Buffer {
  // Comparing fixed-length digests keeps the comparison constant-time whatever the token lengths.
  return createHash('sha256').update(s).digest();
}

/** Parses the token file's text into (name, token) pairs. */
export function parseTokens(text: string): { name: string; token: string }[] {
  const out: { name: string; token: string }[] = [];
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) {
      continue;
    }
    const colon = line.indexOf(':');
    out.push(
      colon > 0
        ? { name: line.slice(0, colon).trim(), token: line.slice(colon + 1).trim() }
        : { name: 'admin', token: line },
    );
  }
  return out.filter((t) => t.token.length > 0);
}

/** Checks an Authorization header against the token file; `file` null means the endpoints are off. */
export function checkAdmin(file: string | null, header: string | undefined): AdminAuth {
  if (file === null) {
    return {
      ok: false,
      status: 403,
      message: 'Admin endpoints are disabled: set http.adminTokenFile (env XNAT_GATEWAY_ADMIN_TOKEN_FILE).',
    };
  }
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m?.[1]) {
    return { ok: false, status: 401, message: 'An admin bearer token is required (Authorization: Bearer <token>).' };
  }
  let tokens: { name: string; token: string }[];
  try {
    // One descriptor for the check and the read, so the mode checked is that of the file read.
    const fd = openSync(file, 'r');
    try {
      const mode = fstatSync(fd).mode & 0o777;
      if ((mode & 0o077) !== 0) {
        return {
          ok: false,
          status: 403,
          message: `The admin token file is readable by others (mode ${mode.toString(8)}); chmod 600 it. Admin endpoints are refused until then.`,
        };
      }
      tokens = parseTokens(readFileSync(fd, 'utf8'));
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    return {
      ok: false,
      status: 403,
      message: `The admin token file cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}).`,
    };
  }
  const given = digest(m[1]);
  let who: string | null = null;
  for (const t of tokens) {
    // No early exit: every token is compared, so timing does not tell which line matched.
    if (timingSafeEqual(given, digest(t.token)) && who === null) {
      who = t.name;
    }
  }
  return who === null ? { ok: false, status: 401, message: 'The bearer token is not valid.' } : { ok: true, who };
}

/**
 * Checks the request's bearer token for an admin endpoint. Null when allowed (the caller goes on
 * with `who`); otherwise the refusal has been sent (401 with WWW-Authenticate, or 403).
 */
export function requireAdmin(
  file: string | null,
  req: FastifyRequest,
  reply: FastifyReply,
  action: string,
): { who: string } | null {
  const auth = checkAdmin(file, req.headers.authorization);
  if (auth.ok) {
    return { who: auth.who };
  }
  if (auth.status === 401) {
    void reply.header('WWW-Authenticate', 'Bearer realm="xnat-gateway"');
  }
  req.log.warn({ ip: req.ip, status: auth.status }, `${action} refused: not authorised.`);
  void reply
    .code(auth.status)
    .send({ error: auth.status === 401 ? 'unauthorized' : 'forbidden', message: auth.message });
  return null;
}
