//! Formatting helpers the templates call: times (UTC in HTML, local in the browser), durations, sizes.
// Times are rendered as <time datetime="ISO"> with the UTC text; console.js rewrites the text to
// the viewer's local time. Without JavaScript the UTC time stays, clearly marked.

const escapeAttr = (s: string): string => s.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

/** A <time> element for an epoch-ms time (raw HTML: the template prints it with <%~ %>). */
export function time(ms: number | null | undefined): string {
  if (ms === null || ms === undefined) {
    return '<span class="muted">—</span>';
  }
  const iso = new Date(ms).toISOString();
  return `<time datetime="${escapeAttr(iso)}" data-local>${iso.slice(0, 19).replace('T', ' ')} UTC</time>`;
}

/** "42 s", "3 min 20 s", "2 h 5 min", "3 d 4 h" for a span of milliseconds (never negative). */
export function duration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) {
    return `${String(s)} s`;
  }
  const m = Math.floor(s / 60);
  if (m < 60) {
    return s % 60 ? `${String(m)} min ${String(s % 60)} s` : `${String(m)} min`;
  }
  const h = Math.floor(m / 60);
  if (h < 48) {
    return m % 60 ? `${String(h)} h ${String(m % 60)} min` : `${String(h)} h`;
  }
  const d = Math.floor(h / 24);
  return h % 24 ? `${String(d)} d ${String(h % 24)} h` : `${String(d)} d`;
}

/** Bytes in binary units with one decimal: "512 B", "1.5 KiB", "2.0 GiB". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${String(v)} B` : `${v.toFixed(1)} ${units[i] ?? ''}`;
}

/** A rate per second with at most one decimal. */
export function rate(n: number): string {
  return n >= 10 ? String(Math.round(n)) : n.toFixed(1);
}

/** The first 12 hex digits of a hash, enough to compare at a glance. */
export function shortHash(h: string): string {
  return h.slice(0, 12);
}

export const format = { time, duration, bytes, rate, shortHash };
export type Format = typeof format;
