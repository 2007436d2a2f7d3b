//! The gateway's Prometheus metrics: lifetime counters from events, gauges from the queue at each scrape.
// The text format itself is exposition.ts. Every label value is a bounded vocabulary (source ids, outcomes, error codes, sink ids from config).
import type { Clock } from '../clock.ts';
import type { DaemonEvents, SourceId } from '../events.ts';
import { ageSeconds } from '../store/sqlite/stats.ts';
import { JOB_STATES, SERIES_STATES, type Stats } from '../store/stats.ts';
import { isReady, type Readiness } from './readiness.ts';
import { counter, renderExposition, type MetricFamily, type Sample } from './exposition.ts';

export interface Metrics {
  /** The full exposition body, ending in a newline. */
  render(): Promise<string>;
  /** Stops counting (unsubscribes from events). */
  close(): void;
}

export interface MetricsDeps {
  events: DaemonEvents;
  stats: Pick<Stats, 'seriesByState' | 'jobsByState' | 'oldestPending' | 'openAssociations'>;
  /** The registered source types (src/app/registry.ts): their counters start at 0. */
  sources: readonly SourceId[];
  clock: Clock;
  readiness: () => Promise<Readiness>;
  /** Routing gauges: waiting and quarantined batches, and whether the last rules reload failed. */
  routing?: () => Promise<{ waiting: number; quarantined: number; reloadFailed: boolean }>;
  /** Per-sink circuit state (1 = open or half-open). */
  circuits?: () => readonly { sink: string; state: string }[];
  /** Delivery health: sinks whose jobs fail for a reason no retry can fix. */
  delivery?: () => { status: string; reasons: readonly { sink: string; code: string }[] };
  /** Configured PACS: whether each answered its last C-ECHO (null: not asked yet) and its circuit. */
  pacs?: () => readonly { name: string; up: boolean | null; circuitOpen: boolean }[];
}

/** PACS reachability for pulls: C-ECHO and circuit per PACS (a PACS not asked yet is left out of pacs_up). */
function pacsGauges(
  list: readonly { name: string; up: boolean | null; circuitOpen: boolean }[],
  gauge: Gauge,
): MetricFamily[] {
  return [
    gauge(
      'pacs_up',
      '1 when a PACS answered its last C-ECHO (pull.echoIntervalMs), else 0.',
      list.filter((p) => p.up !== null).map((p) => ({ labels: { pacs: p.name }, value: p.up ? 1 : 0 })),
    ),
    gauge(
      'pacs_circuit_open',
      '1 while pulls from a PACS wait because it failed repeatedly (its circuit breaker is open or probing), else 0.',
      list.map((p) => ({ labels: { pacs: p.name }, value: p.circuitOpen ? 1 : 0 })),
    ),
  ];
}

const P = 'xnat_gateway_';

/** Subscribes to the event counters now; gauges are read from the queue at each `render()`. */
export function createMetrics(deps: MetricsDeps): Metrics {
  const c = {
    instances: counter(`${P}instances_received_total`, 'Instances received and committed, by source and outcome.', [
      'source',
      'outcome',
    ]),
    bytes: counter(`${P}bytes_received_total`, 'Bytes of instances received, by source.', ['source']),
    associations: counter(`${P}associations_total`, 'Associations (or folder drops) closed, by source and outcome.', [
      'source',
      'outcome',
    ]),
    rejected: counter(`${P}associations_rejected_total`, 'Association requests rejected, by error code.', ['code']),
    failures: counter(
      `${P}instance_failures_total`,
      'Instances refused or failed on receipt, by source and error code.',
      ['source', 'code'],
    ),
    jobs: counter(
      `${P}jobs_total`,
      'Delivery job attempts finished, by sink and outcome (succeeded, retrying, failed).',
      ['sink', 'outcome'],
    ),
    routed: counter(
      `${P}series_routed_total`,
      'Series batches routed by the quarantine protocol, by target (hospital, quarantine) and whether released.',
      ['target'],
    ),
  };
  for (const t of ['hospital', 'quarantine', 'released']) {
    c.routed.inc([t], 0);
  }
  // Known label combinations start at 0 so rate() sees the first increment (Prometheus guidance).
  for (const s of deps.sources) {
    c.bytes.inc([s], 0);
    for (const o of ['stored', 'duplicate', 'replaced']) {
      c.instances.inc([s, o], 0);
    }
    for (const o of ['released', 'aborted', 'dropped']) {
      c.associations.inc([s, o], 0);
    }
  }
  const { events } = deps;
  const offs = [
    events.on('instance.received', (e) => {
      c.instances.inc([e.source, e.outcome]);
      c.bytes.inc([e.source], e.bytes);
    }),
    events.on('instance.failed', (e) => {
      c.failures.inc([e.source, e.code]);
    }),
    events.on('association.closed', (e) => {
      c.associations.inc([e.source, e.outcome]);
    }),
    events.on('association.rejected', (e) => {
      c.rejected.inc([e.code]);
    }),
    events.on('job.succeeded', (e) => {
      c.jobs.inc([e.sink, 'succeeded']);
    }),
    events.on('job.retrying', (e) => {
      c.jobs.inc([e.sink, 'retrying']);
    }),
    events.on('job.failed', (e) => {
      c.jobs.inc([e.sink, 'failed']);
    }),
    events.on('series.routed', (e) => {
      c.routed.inc([e.target]);
    }),
    events.on('series.released', () => {
      c.routed.inc(['released']);
    }),
  ];

  return {
    async render() {
      const series = await deps.stats.seriesByState();
      const jobs = await deps.stats.jobsByState();
      const pending = await deps.stats.oldestPending();
      const openAssociations = await deps.stats.openAssociations();
      const routing = await deps.routing?.();
      const ready = await deps.readiness();
      const oldest = ageSeconds(pending.seriesFirstInstanceAt, deps.clock.now()) ?? 0;
      const gauge = (name: string, help: string, samples: Sample[]): MetricFamily => ({
        name: P + name,
        help,
        type: 'gauge',
        samples,
      });
      const one = (value: number): Sample[] => [{ labels: {}, value }];
      return renderExposition([
        ...Object.values(c).map((x) => x.family()),
        gauge(
          'series',
          'Series batches by state.',
          SERIES_STATES.map((state) => ({ labels: { state }, value: series[state].series })),
        ),
        gauge(
          'jobs',
          'Delivery jobs by state.',
          JOB_STATES.map((state) => ({ labels: { state }, value: jobs[state] })),
        ),
        gauge(
          'oldest_pending_seconds',
          'Age of the oldest series batch not yet delivered or failed (0 when none).',
          one(oldest),
        ),
        gauge('disk_free_bytes', 'Free bytes on the spool filesystem.', one(ready.diskFreeBytes)),
        gauge(
          'disk_min_free_bytes',
          'The watermark (spool.minFreeBytes): below it new data is refused.',
          one(ready.diskMinFreeBytes),
        ),
        gauge('ready', '1 when the gateway is ready to receive, else 0.', one(isReady(ready) ? 1 : 0)),
        gauge('open_associations', 'Associations (or folder drops) currently open.', one(openAssociations)),
        ...routingGauges(routing, gauge, one),
        ...(deps.delivery ? deliveryGauges(deps.delivery(), gauge, one) : []),
        ...(deps.circuits
          ? [
              gauge(
                'sink_circuit_open',
                "1 while a sink's circuit breaker is open or probing (its target is failing), else 0.",
                deps.circuits().map((c) => ({ labels: { sink: c.sink }, value: c.state === 'closed' ? 0 : 1 })),
              ),
            ]
          : []),
        ...(deps.pacs ? pacsGauges(deps.pacs(), gauge) : []),
      ]);
    },
    close() {
      for (const off of offs) {
        off();
      }
    },
  };
}

type Gauge = (name: string, help: string, samples: Sample[]) => MetricFamily;

function routingGauges(
  r: { waiting: number; quarantined: number; reloadFailed: boolean } | undefined,
  gauge: Gauge,
  one: (v: number) => Sample[],
): MetricFamily[] {
  if (!r) {
    return [];
  }
  return [
    gauge('series_waiting', 'RT series batches waiting for their referenced images.', one(r.waiting)),
    gauge(
      'series_quarantined',
      'Series batches routed to the quarantine project, neither released nor discarded.',
      one(r.quarantined),
    ),
    gauge(
      'routing_rules_reload_failed',
      '1 when the last edit of a protocol or rules file was refused (previous rules in force).',
      one(r.reloadFailed ? 1 : 0),
    ),
  ];
}

function deliveryGauges(
  d: NonNullable<ReturnType<NonNullable<MetricsDeps['delivery']>>>,
  gauge: Gauge,
  one: (v: number) => Sample[],
): MetricFamily[] {
  return [
    gauge(
      'delivery_degraded',
      '1 while deliveries fail for a reason no retry can fix (see /healthz/delivery), else 0.',
      one(d.status === 'ok' ? 0 : 1),
    ),
    gauge(
      'delivery_degraded_sinks',
      'Sinks whose jobs fail for a reason no retry can fix, by sink and error code (1 each).',
      d.reasons.map((r) => ({ labels: { sink: r.sink, code: r.code }, value: 1 })),
    ),
  ];
}
