//! What watches the daemon for its operators: delivery health, intake rates, the Prometheus metrics, notifications.
// They subscribe to events and read the stores, and change nothing the pipeline relies on: built
// after it, their subscriptions are closed together when the daemon stops (the notifier, which
// sends mail on a timer, is a service of its own).
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DropLedger } from '../contracts/drops.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { createNotifier, type Notifier } from '../notify/index.ts';
import type { Breakers } from '../resilience/breaker.ts';
import { createDeliveryHealth, type DeliveryHealth } from '../status/delivery-health.ts';
import { createMetrics, type Metrics } from '../status/metrics.ts';
import { createRateTracker, type RateTracker } from '../status/rates.ts';
import type { Readiness } from '../status/readiness.ts';
import type { RouteStore } from '../store/routes.ts';
import type { Stats } from '../store/stats.ts';
import type { Route } from '../transforms/route/index.ts';
import { pacsGauges, SOURCE_TYPES, type BuiltSource } from './registry.ts';
import { consoleUrlFor } from './status-deps.ts';

/** The daemon's parts the monitors read. */
export interface MonitoringParts {
  readonly cfg: Config;
  readonly clock: Clock;
  readonly events: DaemonEvents;
  readonly log: Logger;
  readonly stats: Stats;
  readonly readiness: () => Promise<Readiness>;
  readonly routes: RouteStore;
  readonly route: Route;
  readonly breakers: Breakers;
  readonly sources: readonly BuiltSource[];
  readonly ledger: DropLedger;
  /** The status server's bound port, for links in notifications (null before it listens). */
  readonly httpPort: () => number | null;
}

export interface Monitoring {
  readonly delivery: DeliveryHealth;
  readonly rates: RateTracker;
  readonly metrics: Metrics;
  readonly notifier: Notifier;
  /** Ends the subscriptions of the metrics, delivery health and rates. */
  close(): void;
}

export function composeMonitoring(p: MonitoringParts): Monitoring {
  const { cfg, clock, events, route, sources, readiness } = p;
  const delivery = createDeliveryHealth(events, clock);
  const rates = createRateTracker(clock, SOURCE_TYPES);
  const unsubscribeRates = rates.subscribe(events);
  const metrics: Metrics = createMetrics({
    sources: SOURCE_TYPES,
    events,
    stats: p.stats,
    clock,
    readiness,
    routing: async () => ({ ...(await p.routes.counts()), reloadFailed: route.rules().lastError !== null }),
    circuits: () => p.breakers.status(),
    delivery: () => delivery.status(),
    pacs: () => pacsGauges(sources),
  });
  const notifier: Notifier = createNotifier(cfg.notify, {
    events,
    clock,
    log: p.log.child({ component: 'notify' }),
    consoleUrl: consoleUrlFor(cfg, p.httpPort),
    disk: async () => {
      const r = await readiness();
      return { freeBytes: r.diskFreeBytes, minFreeBytes: r.diskMinFreeBytes };
    },
    rulesError: () => route.rules().lastError,
    drops: async () => (sources.some((s) => s.type === 'folder') ? await p.ledger.recent(20) : null),
  });
  return {
    delivery,
    rates,
    metrics,
    notifier,
    close() {
      metrics.close();
      delivery.close();
      unsubscribeRates();
    },
  };
}
