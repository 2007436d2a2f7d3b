import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents, type DaemonEvents } from '../../../src/events.ts';
import type { Db } from '../../../src/store/sqlite/db.ts';
import { createStats } from '../../../src/store/sqlite/stats.ts';
import { escapeHelp, escapeLabelValue, formatValue, renderExposition } from '../../../src/status/exposition.ts';
import { createMetrics } from '../../../src/status/metrics.ts';
import type { Readiness } from '../../../src/status/readiness.ts';
import { parseExposition } from '../../helpers/exposition.ts';
import { addAssociation, addJob, addSeries, fakeClock, tmpDb } from '../../helpers/queue-rows.ts';
import { SOURCE_TYPES } from '../../../src/app/registry.ts';

let db: Db;
let close: () => void;
let events: DaemonEvents;
const clock = fakeClock(100_000);
let readiness: Readiness;
beforeEach(() => {
  ({ db, close } = tmpDb());
  events = createEvents();
  readiness = {
    receiverListening: true,
    dbWritable: true,
    diskFreeBytes: 5e9,
    diskMinFreeBytes: 1e9,
    backlogOk: true,
    reasons: [],
  };
});
afterEach(() => {
  close();
});

const build = () =>
  createMetrics({
    sources: SOURCE_TYPES,
    events,
    stats: createStats(db, SOURCE_TYPES),
    clock,
    readiness: () => Promise.resolve(readiness),
  });

function emitSome(): void {
  events.emit('instance.received', { source: 'dimse', seriesId: 1, instanceId: 1, bytes: 1_000, outcome: 'stored' });
  events.emit('instance.received', { source: 'dimse', seriesId: 1, instanceId: 2, bytes: 500, outcome: 'duplicate' });
  events.emit('instance.failed', { source: 'folder', code: 'ERR_DICOM_UNPARSABLE' });
  events.emit('association.closed', {
    source: 'dimse',
    associationUid: 'u',
    instances: 2,
    bytes: 1_500,
    durationMs: 5,
    outcome: 'aborted',
  });
  events.emit('association.rejected', {
    peerIp: '10.0.0.1',
    callingAe: 'X',
    calledAe: 'Y',
    code: 'ERR_ASSOC_CALLED_AE',
    reason: 7,
  });
  events.emit('job.succeeded', { jobId: 1, seriesId: 1, sink: 'xnat', attempt: 1, durationMs: 3 });
  events.emit('job.retrying', {
    jobId: 2,
    seriesId: 2,
    sink: 'xnat',
    attempt: 1,
    code: 'ERR_SINK_WRITE',
    stage: 'sending',
    runAt: 0,
  });
  events.emit('job.failed', {
    jobId: 3,
    seriesId: 3,
    sink: 'archive',
    attempt: 5,
    code: 'ERR_SINK_WRITE',
    stage: 'sending',
  });
}

describe('createMetrics', () => {
  it('renders text whose every line matches the exposition grammar, with HELP and TYPE for each metric', async () => {
    const metrics = build();
    emitSome();
    const { problems, samples } = parseExposition(await metrics.render());
    expect(problems).toEqual([]);
    expect(samples.size).toBeGreaterThan(20);
  });

  it('counts events into labelled lifetime counters', async () => {
    const metrics = build();
    emitSome();
    emitSome();
    const { samples } = parseExposition(await metrics.render());
    expect(samples.get('xnat_gateway_instances_received_total{source="dimse",outcome="stored"}')).toBe(2);
    expect(samples.get('xnat_gateway_instances_received_total{source="folder",outcome="replaced"}')).toBe(0);
    expect(samples.get('xnat_gateway_bytes_received_total{source="dimse"}')).toBe(3_000);
    expect(samples.get('xnat_gateway_associations_total{source="dimse",outcome="aborted"}')).toBe(2);
    expect(samples.get('xnat_gateway_associations_rejected_total{code="ERR_ASSOC_CALLED_AE"}')).toBe(2);
    expect(samples.get('xnat_gateway_instance_failures_total{source="folder",code="ERR_DICOM_UNPARSABLE"}')).toBe(2);
    expect(samples.get('xnat_gateway_jobs_total{sink="xnat",outcome="succeeded"}')).toBe(2);
    expect(samples.get('xnat_gateway_jobs_total{sink="xnat",outcome="retrying"}')).toBe(2);
    expect(samples.get('xnat_gateway_jobs_total{sink="archive",outcome="failed"}')).toBe(2);
  });

  it('reads gauges from the queue and the readiness probe at render time', async () => {
    const metrics = build();
    const s = addSeries(db, { state: 'complete', first_instance_at: 40_000 });
    addSeries(db, { state: 'delivered' });
    addJob(db, s, { state: 'queued' });
    addAssociation(db, { closed_at: null, outcome: null });
    readiness = { ...readiness, diskFreeBytes: 10, reasons: ['disk below watermark'] };
    const { samples } = parseExposition(await metrics.render());
    expect(samples.get('xnat_gateway_series{state="complete"}')).toBe(1);
    expect(samples.get('xnat_gateway_series{state="failed"}')).toBe(0);
    expect(samples.get('xnat_gateway_jobs{state="queued"}')).toBe(1);
    expect(samples.get('xnat_gateway_oldest_pending_seconds')).toBe(60);
    expect(samples.get('xnat_gateway_disk_free_bytes')).toBe(10);
    expect(samples.get('xnat_gateway_ready')).toBe(0);
    expect(samples.get('xnat_gateway_open_associations')).toBe(1);
  });

  it('stops counting once closed', async () => {
    const metrics = build();
    metrics.close();
    emitSome();
    const { samples } = parseExposition(await metrics.render());
    expect(samples.get('xnat_gateway_instances_received_total{source="dimse",outcome="stored"}')).toBe(0);
    expect(samples.has('xnat_gateway_jobs_total{sink="xnat",outcome="succeeded"}')).toBe(false);
  });
});

describe('renderExposition', () => {
  it('escapes label values and help text so the output still parses', () => {
    const text = renderExposition([
      {
        name: 'x_total',
        help: 'back\\slash and\nnewline',
        type: 'counter',
        samples: [{ labels: { sink: 'a"b\\c\nd' }, value: 1 }],
      },
    ]);
    expect(text).toBe(
      '# HELP x_total back\\\\slash and\\nnewline\n# TYPE x_total counter\nx_total{sink="a\\"b\\\\c\\nd"} 1\n',
    );
    expect(parseExposition(text).problems).toEqual([]);
  });

  it('refuses invalid metric and label names', () => {
    expect(() => renderExposition([{ name: 'bad-name', help: 'h', type: 'gauge', samples: [] }])).toThrow(
      /metric name/,
    );
    expect(() =>
      renderExposition([
        { name: 'ok', help: 'h', type: 'gauge', samples: [{ labels: { 'bad-label': 'v' }, value: 1 }] },
      ]),
    ).toThrow(/label name/);
  });

  it('spells special floats the way Prometheus parses them', () => {
    expect([NaN, Infinity, -Infinity, 1.5, 0].map(formatValue)).toEqual(['NaN', '+Inf', '-Inf', '1.5', '0']);
    expect(escapeHelp('a\\b')).toBe('a\\\\b');
    expect(escapeLabelValue('"')).toBe('\\"');
  });

  it('counts routed and released series and exposes the routing gauges', async () => {
    let failed = false;
    const m = createMetrics({
      sources: SOURCE_TYPES,
      events,
      stats: createStats(db, SOURCE_TYPES),
      clock,
      readiness: () => Promise.resolve(readiness),
      routing: () => Promise.resolve({ waiting: 2, quarantined: 3, reloadFailed: failed }),
    });
    events.emit('series.routed', {
      seriesId: 1,
      project: 'Q',
      target: 'quarantine',
      rules: ['protocol:model'],
      rulesHash: 'h',
      groupSeriesId: null,
    });
    events.emit('series.released', { seriesId: 1, project: 'KCL', by: 'alice' });
    failed = true;
    const text = await m.render();
    m.close();
    expect(parseExposition(text).problems).toEqual([]);
    expect(text).toContain('xnat_gateway_series_routed_total{target="quarantine"} 1');
    expect(text).toContain('xnat_gateway_series_routed_total{target="hospital"} 0');
    expect(text).toContain('xnat_gateway_series_routed_total{target="released"} 1');
    expect(text).toContain('xnat_gateway_series_waiting 2');
    expect(text).toContain('xnat_gateway_series_quarantined 3');
    expect(text).toContain('xnat_gateway_routing_rules_reload_failed 1');
  });
});
