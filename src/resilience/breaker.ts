//! Per-sink circuit breakers: when a target is down, its jobs wait and one probe at a time tests it.
// Without this, every queued series of a dead XNAT would take its turn failing (a storm of
// connections and log lines) and burn its attempts; mercure's fixed 15 min × 5 is what we avoid.
import type { Clock } from '../clock.ts';

export type CircuitState = 'closed' | 'open' | 'half-open';

export interface BreakerOptions {
  /** Consecutive failures of the sink (not of the data) that open the circuit. */
  readonly failureThreshold: number;
  /** Wait before the first probe after opening, in ms; doubles after each failed probe. */
  readonly openMs: number;
  /** Cap of that wait, in ms. */
  readonly maxOpenMs: number;
}

export interface CircuitStatus {
  readonly sink: string;
  readonly state: CircuitState;
  readonly consecutiveFailures: number;
  readonly openedAt: number | null;
  /** When the next probe may run (open), or null. */
  readonly nextProbeAt: number | null;
  readonly lastError: string | null;
  readonly lastCode: string | null;
}

export interface Breakers {
  /** Sinks whose jobs must not be claimed now (open and not yet due, or a probe in flight). */
  blocked(): string[];
  /** A job of `sink` was claimed: an open circuit that is due becomes half-open (this job is the probe). */
  claimed(sink: string): void;
  /** The sink did its part (delivered, or refused the data for a reason of the data). */
  succeeded(sink: string): void;
  /** The sink itself failed (unreachable, 5xx, credentials). `trip` opens the circuit at once. */
  failed(sink: string, f: { code: string; error: string; trip?: boolean }): void;
  /** Earliest time a job of `sink` should run again, or null when the circuit is closed. */
  retryAt(sink: string): number | null;
  status(): CircuitStatus[];
}

interface Circuit {
  state: CircuitState;
  failures: number;
  openedAt: number | null;
  waitMs: number;
  nextProbeAt: number | null;
  lastError: string | null;
  lastCode: string | null;
}

export function createBreakers(
  sinks: readonly string[],
  o: BreakerOptions,
  clock: Clock,
  onChange?: (s: CircuitStatus) => void,
): Breakers {
  const circuits = new Map<string, Circuit>(
    sinks.map((s) => [
      s,
      {
        state: 'closed',
        failures: 0,
        openedAt: null,
        waitMs: o.openMs,
        nextProbeAt: null,
        lastError: null,
        lastCode: null,
      },
    ]),
  );
  const view = (sink: string, c: Circuit): CircuitStatus => ({
    sink,
    state: c.state,
    consecutiveFailures: c.failures,
    openedAt: c.openedAt,
    nextProbeAt: c.nextProbeAt,
    lastError: c.lastError,
    lastCode: c.lastCode,
  });
  const set = (sink: string, c: Circuit, state: CircuitState): void => {
    const changed = c.state !== state;
    c.state = state;
    if (changed) {
      onChange?.(view(sink, c));
    }
  };
  const open = (sink: string, c: Circuit, now: number, waitMs: number): void => {
    c.openedAt ??= now;
    c.waitMs = Math.min(waitMs, o.maxOpenMs);
    c.nextProbeAt = now + c.waitMs;
    set(sink, c, 'open');
  };

  return {
    blocked() {
      const now = clock.now();
      return [...circuits]
        .filter(([, c]) => c.state === 'half-open' || (c.state === 'open' && (c.nextProbeAt ?? 0) > now))
        .map(([s]) => s);
    },
    claimed(sink) {
      const c = circuits.get(sink);
      if (c?.state === 'open') {
        set(sink, c, 'half-open');
      }
    },
    succeeded(sink) {
      const c = circuits.get(sink);
      if (!c) {
        return;
      }
      c.failures = 0;
      c.openedAt = null;
      c.nextProbeAt = null;
      c.waitMs = o.openMs;
      set(sink, c, 'closed');
    },
    failed(sink, f) {
      const c = circuits.get(sink);
      if (!c) {
        return;
      }
      const now = clock.now();
      c.failures++;
      c.lastError = f.error;
      c.lastCode = f.code;
      if (c.state === 'half-open') {
        open(sink, c, now, c.waitMs * 2);
      } else if (c.state === 'closed' && (f.trip === true || c.failures >= o.failureThreshold)) {
        open(sink, c, now, o.openMs);
      }
    },
    retryAt(sink) {
      const c = circuits.get(sink);
      return c && c.state !== 'closed' ? c.nextProbeAt : null;
    },
    status: () => [...circuits].map(([s, c]) => view(s, c)),
  };
}
