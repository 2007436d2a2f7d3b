//! The daemon's start/stop list: services start in the listed order and stop in reverse.
// Writing the order once means the stop order cannot drift from the start order. A service
// without `start` holds what it was built with (the database, event subscriptions) from
// construction, so `stop` releases it even when `start` never ran or failed part-way.
import type { Logger } from '../log.ts';

/** One entry of the list: what to start, and what undoes it. */
export interface Service {
  /** For the logs: 'database', 'worker', 'source:dimse', … */
  readonly name: string;
  start?(): Promise<void> | void;
  stop?(): Promise<void> | void;
}

export interface ServiceList {
  /** Starts each service in order. When one fails, those already running are stopped in reverse and the error is rethrown. */
  start(): Promise<void>;
  /** Stops every running service in reverse order; a failing stop is logged, the rest still stop, the first error is rethrown. */
  stop(): Promise<void>;
  /** The names in start order (docs/architecture.md shows this list). */
  readonly names: readonly string[];
}

export function createServiceList(services: readonly Service[], log: Logger): ServiceList {
  const running = services.map((s) => s.start === undefined);

  async function stopRunning(): Promise<unknown> {
    let first: unknown = undefined;
    for (let i = services.length - 1; i >= 0; i--) {
      const s = services[i];
      if (!s || !running[i]) {
        continue;
      }
      running[i] = false;
      try {
        await s.stop?.();
      } catch (err) {
        log.error({ err, service: s.name }, 'Stopping a service failed; stopping the others.');
        first ??= err;
      }
    }
    return first;
  }

  return {
    names: services.map((s) => s.name),
    async start() {
      for (const [i, s] of services.entries()) {
        if (running[i]) {
          continue;
        }
        try {
          await s.start?.();
          running[i] = true;
        } catch (err) {
          // Undo what did start, then report the failure that stopped the start-up.
          await stopRunning();
          throw err;
        }
      }
    },
    async stop() {
      const err = await stopRunning();
      if (err !== undefined) {
        throw err instanceof Error ? err : new Error('A service failed to stop.', { cause: err });
      }
    },
  };
}
