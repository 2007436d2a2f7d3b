//! The reasons the router adds to a decision (series-level), and how it words a waiting window.
import type { RouteReason, Target } from '../contracts/routing.ts';

/** A series-level reason the router adds (instances 0: it is about the batch, not its instances). */
export function reason(rule: string, source: RouteReason['source'], message: string): RouteReason {
  return { rule, source, message, instances: 0 };
}

/**
 * The reasons after the router overrides the rules' target: when the target changes, the rules'
 * reasons for the old one (e.g. "No rule sent it to quarantine.") no longer explain anything.
 */
export function withReason(
  reasons: readonly RouteReason[],
  from: Target,
  to: Target,
  extra: RouteReason,
): RouteReason[] {
  return from === to ? [...reasons, extra] : [extra];
}

/** A window as an operator reads it: 24 h, 90 min, 2 s. */
export function formatWindow(ms: number): string {
  if (ms >= 3_600_000) {
    return `${String(Math.round(ms / 360_000) / 10)} h`;
  }
  if (ms >= 60_000) {
    return `${String(Math.round(ms / 60_000))} min`;
  }
  return `${String(Math.round(ms / 1000))} s`;
}
