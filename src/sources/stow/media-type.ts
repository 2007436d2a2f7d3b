//! Parses media types (`type/subtype; name=value; name="quoted value"`) and Accept headers (RFC 9110 §8.3, §12.5.1).

export interface MediaType {
  /** `type/subtype`, lower-cased. */
  readonly essence: string;
  /** Parameter names lower-cased; values as sent, quotes and escapes removed. */
  readonly params: ReadonlyMap<string, string>;
}

const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

/** Splits at `sep` outside quoted strings. */
function splitOutsideQuotes(s: string, sep: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charAt(i);
    if (quoted && c === '\\' && i + 1 < s.length) {
      cur += c + s.charAt(i + 1);
      i++;
      continue;
    }
    if (c === '"') {
      quoted = !quoted;
    }
    if (c === sep && !quoted) {
      out.push(cur);
      cur = '';
    } else {
      cur += c;
    }
  }
  out.push(cur);
  return out;
}

function unquote(v: string): string {
  return v.length >= 2 && v.startsWith('"') && v.endsWith('"') ? v.slice(1, -1).replace(/\\(.)/g, '$1') : v;
}

/** The media type in a Content-Type header, or null when it is not one. */
export function parseMediaType(header: string | undefined): MediaType | null {
  if (header === undefined) {
    return null;
  }
  const [head = '', ...rest] = splitOutsideQuotes(header, ';');
  const essence = head.trim().toLowerCase();
  const [type, subtype, extra] = essence.split('/');
  if (extra !== undefined || !type || !subtype || !TOKEN.test(type) || !TOKEN.test(subtype)) {
    return null;
  }
  const params = new Map<string, string>();
  for (const p of rest) {
    const eq = p.indexOf('=');
    if (eq <= 0) {
      if (p.trim() === '') {
        continue;
      }
      return null;
    }
    const name = p.slice(0, eq).trim().toLowerCase();
    if (!TOKEN.test(name)) {
      return null;
    }
    if (!params.has(name)) {
      params.set(name, unquote(p.slice(eq + 1).trim()));
    }
  }
  return { essence, params };
}

/** One entry of an Accept header with its quality. */
interface Accepted {
  readonly range: string;
  readonly q: number;
}

function acceptList(header: string): Accepted[] {
  const out: Accepted[] = [];
  for (const item of splitOutsideQuotes(header, ',')) {
    const [range = '', ...params] = splitOutsideQuotes(item, ';');
    let q = 1;
    for (const p of params) {
      const m = /^\s*q\s*=\s*([0-9.]+)\s*$/i.exec(p);
      if (m) {
        q = Number(m[1]);
      }
    }
    if (range.trim() && Number.isFinite(q)) {
      out.push({ range: range.trim().toLowerCase(), q });
    }
  }
  return out;
}

/** How well `range` (`*\/*`, `type/*`, or a full type) matches `offer`: 0 = not at all, higher = more specific. */
function specificity(range: string, offer: string): number {
  if (range === offer) {
    return 3;
  }
  const [t] = offer.split('/');
  if (range === `${t ?? ''}/*`) {
    return 2;
  }
  return range === '*/*' ? 1 : 0;
}

/**
 * The offer the Accept header prefers (`offers` in our order of preference for ties), or null when
 * it accepts none of them. No header or an empty one accepts anything: the first offer.
 */
export function negotiate(header: string | undefined, offers: readonly string[]): string | null {
  if (header === undefined || header.trim() === '') {
    return offers[0] ?? null;
  }
  const list = acceptList(header);
  let best: { offer: string; q: number } | null = null;
  for (const offer of offers) {
    // The most specific range that matches decides the offer's quality (RFC 9110 §12.5.1).
    let match: { s: number; q: number } | null = null;
    for (const a of list) {
      const s = specificity(a.range, offer);
      if (s > 0 && (match === null || s > match.s)) {
        match = { s, q: a.q };
      }
    }
    if (match && match.q > 0 && (best === null || match.q > best.q)) {
      best = { offer, q: match.q };
    }
  }
  return best?.offer ?? null;
}
