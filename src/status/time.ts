//! Times at the edges: ISO 8601 beside epoch ms in responses, and either form accepted in queries.

/** ISO 8601 (UTC, milliseconds) of an epoch-ms time; null stays null. */
export function iso(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}

/**
 * Epoch ms from a query value: whole milliseconds (`1700000000000`) or an ISO 8601 date or time
 * (`2025-03-01`, `2025-03-01T08:00`, `2025-03-01T08:00:00Z`; without a zone: the gateway's local
 * time, as Date.parse reads it). Null when it is neither.
 */
export function parseTime(text: string): number | null {
  const t = text.trim();
  if (/^\d{1,15}$/.test(t)) {
    return Number(t);
  }
  if (!/^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})?)?$/.test(t)) {
    return null;
  }
  const ms = Date.parse(t.replace(' ', 'T'));
  return Number.isNaN(ms) ? null : ms;
}
