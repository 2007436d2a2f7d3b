//! The lifecycle every sink shares, built from its parts: start = sweep + healthcheck, ready = health as last seen.
// A sink that cannot be reached at start-up does not stop the gateway: its deliveries wait and
// retry (the worker's circuit breaker spaces them), so a failed healthcheck is logged and shown in
// /status as the sink's `ready: false` with the reason, never thrown from `start`. Each delivery
// then updates what /status says: delivered → ready; the sink's own fault (unreachable, refused
// credentials) → not ready with its reason; a refusal of the data says nothing about the sink.
import { describeError } from '../errors.ts';
import type { ComponentContext, ComponentDescription, ComponentReadiness } from './lifecycle.ts';
import type { Delivery, JobContext, Sink } from './component.ts';
import type { SeriesSnapshot } from './series.ts';

/** What a sink's folder provides; `sinkLifecycle` adds start, stop and ready. */
export interface SinkParts {
  readonly type: string;
  readonly id: string;
  /** Its target as an administrator names it (path, URL, AE@host:port), no credentials. */
  describe(): ComponentDescription;
  healthcheck(signal: AbortSignal): Promise<void>;
  deliver(series: SeriesSnapshot, ctx: JobContext): Promise<Delivery>;
  recover?(): Promise<number>;
  /** Releases what the sink holds (connections); default nothing. */
  close?(): Promise<void>;
}

/** How long the start-up healthcheck may take before the sink is reported not ready. */
const START_HEALTHCHECK_MS = 10_000;

export function sinkLifecycle(parts: SinkParts, ctx: ComponentContext): Sink {
  let health: ComponentReadiness = { ready: true };
  let stopped = false;

  async function deliver(series: SeriesSnapshot, job: JobContext): Promise<Delivery> {
    const d = await parts.deliver(series, job);
    if (d.outcome === 'delivered') {
      health = { ready: true };
    } else if (d.outcome === 'retry' && d.sinkFault !== undefined) {
      health = { ready: false, reason: d.reason };
    }
    return d;
  }

  return {
    type: parts.type,
    id: parts.id,
    healthcheck: (signal) => parts.healthcheck(signal),
    deliver,
    ...(parts.recover ? { recover: () => (parts.recover as () => Promise<number>)() } : {}),
    async start() {
      // Once, before any delivery runs: a copy a killed attempt left half-written goes first.
      if (parts.recover) {
        const n = await parts.recover().catch((err: unknown) => {
          // A target unreachable now is swept at the next start.
          ctx.log.warn({ err }, 'Removing what a killed delivery left behind failed.');
          return 0;
        });
        if (n > 0) {
          ctx.log.info({ files: n }, 'Removed what a killed delivery left behind.');
        }
      }
      try {
        await parts.healthcheck(AbortSignal.timeout(START_HEALTHCHECK_MS));
        health = { ready: true };
      } catch (err) {
        health = { ready: false, reason: describeError(err) };
        ctx.log.warn({ err }, 'Sink healthcheck failed; deliveries will retry.');
      }
    },
    async stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      await parts.close?.();
    },
    ready: () => health,
    describe: () => parts.describe(),
  };
}
