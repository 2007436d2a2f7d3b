import type { FastifyInstance } from 'fastify';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { Db } from '../../../src/store/sqlite/db.ts';
import { createStats } from '../../../src/store/sqlite/stats.ts';
import type { SeriesPage, SinkSummary, StateCounts } from '../../../src/store/stats.ts';
import type { SeriesTimeline } from '../../../src/store/timeline.ts';
import { createMetrics, type Metrics } from '../../../src/status/metrics.ts';
import { createRateTracker } from '../../../src/status/rates.ts';
import type { Readiness } from '../../../src/status/readiness.ts';
import { buildStatusServer } from '../../../src/status/server.ts';
import type { StatusDeps } from '../../../src/status/deps.ts';
import { parseExposition } from '../../helpers/exposition.ts';
import {
  addAssociation,
  addAttempt,
  addEvent,
  addInstance,
  addJob,
  addSeries,
  fakeClock,
  linkSeries,
  tmpDb,
} from '../../helpers/queue-rows.ts';
import { SOURCE_TYPES } from '../../../src/app/registry.ts';
import { readyReadings } from '../../helpers/readiness.ts';

let db: Db;
let close: () => void;
let app: FastifyInstance;
let metrics: Metrics;
let readiness: Readiness;
const clock = fakeClock(1_000_000);

beforeEach(() => {
  ({ db, close } = tmpDb());
  const events = createEvents();
  const stats = createStats(db, SOURCE_TYPES);
  const rates = createRateTracker(clock, SOURCE_TYPES);
  rates.subscribe(events);
  readiness = readyReadings();
  metrics = createMetrics({ sources: SOURCE_TYPES, events, stats, clock, readiness: () => Promise.resolve(readiness) });
  app = buildStatusServer({
    sources: SOURCE_TYPES,
    log: createLogger('silent'),
    stats,
    rates,
    metrics,
    readiness: () => Promise.resolve(readiness),
    clock,
  });
  events.emit('instance.received', { source: 'dimse', seriesId: 1, instanceId: 1, bytes: 600, outcome: 'stored' });
});
afterEach(async () => {
  await app.close();
  metrics.close();
  close();
});

const get = (url: string) => app.inject({ method: 'GET', url });

/** The fields of GET /status this file reads; the rest is compared as whole values. */
interface StatusBody {
  series: Record<string, StateCounts>;
  instances: unknown;
  rates: { bySource: Record<string, unknown> };
  oldestPending: unknown;
  jobs: unknown;
  sinks: SinkSummary[];
  disk: unknown;
  ready: boolean;
}

/** Seeds one delivered series with an association, a retried job and an audit event carrying PHI-like keys. */
function seedSeries(): number {
  const a = addAssociation(db, { calling_ae: 'CT1', peer_ip: '10.1.2.3' });
  const s = addSeries(db, {
    state: 'delivered',
    instance_count: 1,
    byte_count: 600,
    completed_at: 5_000,
    delivered_at: 6_000,
  });
  linkSeries(db, s, a);
  addInstance(db, s, { association_id: a, size: 600, origin: 'DOE_JOHN/1.dcm' });
  const j = addJob(db, s, { state: 'done', attempts: 2, payload: '{"PatientName":"DOE^JOHN"}' });
  addAttempt(db, j, { attempt: 1, outcome: 'retry', code: 'ERR_SINK_WRITE', error: 'busy' });
  addAttempt(db, j, { attempt: 2 });
  addEvent(db, {
    series_id: s,
    kind: 'instance.replaced',
    detail: '{"PatientName":"DOE^JOHN","patient":{"id":"1"},"code":"ok"}',
  });
  return s;
}

function keysDeep(v: unknown, out: string[] = []): string[] {
  if (Array.isArray(v)) {
    for (const x of v) {
      keysDeep(x, out);
    }
  } else if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      out.push(k);
      keysDeep(x, out);
    }
  }
  return out;
}

/** A status server with the store-backed basics of these tests and the parts a test adds. */
function bareServer(extra: Partial<StatusDeps>): FastifyInstance {
  return buildStatusServer({
    sources: SOURCE_TYPES,
    log: createLogger('silent'),
    stats: createStats(db, SOURCE_TYPES),
    rates: createRateTracker(clock, SOURCE_TYPES),
    metrics,
    readiness: () => Promise.resolve(readiness),
    clock,
    ...extra,
  });
}

describe('buildStatusServer', () => {
  it("lists each running source's readiness and description under sources in /status", async () => {
    const listening = { port: 8104, aeTitle: 'XNAT' };
    const sources = bareServer({
      components: () => [
        {
          type: 'dimse',
          id: 'dimse',
          start: () => Promise.resolve(),
          stop: () => Promise.resolve(),
          ready: () => ({ ready: false, reason: 'DICOM receiver is not listening.' }),
          describe: () => ({ ...listening, listening: false }),
        },
      ],
    });
    const body = (await sources.inject({ method: 'GET', url: '/status' })).json<{ sources: unknown }>();
    expect(body.sources).toEqual([
      {
        type: 'dimse',
        id: 'dimse',
        ready: false,
        reason: 'DICOM receiver is not listening.',
        detail: { port: 8104, aeTitle: 'XNAT', listening: false },
      },
    ]);
    // Without components (bare tests, one-shot commands) the list is empty.
    expect((await get('/status')).json<{ sources: unknown }>().sources).toEqual([]);
    await sources.close();
  });

  it('lists the transforms in the order a batch meets them, with their lifecycle views', async () => {
    const view = (type: string, detail: Record<string, string | number | null>) => ({
      type,
      id: type,
      start: () => Promise.resolve(),
      stop: () => Promise.resolve(),
      ready: () => ({ ready: true }),
      describe: () => detail,
    });
    const server = bareServer({
      transformComponents: () => [
        view('route', { rulesHash: 'ab'.repeat(32), ruleFiles: 1, loadedAt: 5, lastReloadFailedAt: null }),
        view('anonymise', { profile: 'basic', projects: 2, keysDir: '/var/lib/xnat-gateway/keys' }),
      ],
    });
    const body = (await server.inject({ method: 'GET', url: '/status' })).json<{ transforms: unknown }>();
    expect(body.transforms).toEqual([
      {
        type: 'route',
        id: 'route',
        ready: true,
        reason: null,
        detail: { rulesHash: 'ab'.repeat(32), ruleFiles: 1, loadedAt: 5, lastReloadFailedAt: null },
      },
      {
        type: 'anonymise',
        id: 'anonymise',
        ready: true,
        reason: null,
        detail: { profile: 'basic', projects: 2, keysDir: '/var/lib/xnat-gateway/keys' },
      },
    ]);
    expect((await get('/status')).json<{ transforms: unknown }>().transforms).toEqual([]);
    await server.close();
  });

  it("shows each sink's target and health as last seen beside its job counts in /status", async () => {
    seedSeries();
    const server = bareServer({
      sinkComponents: () => [
        {
          type: 'xnat-rest',
          id: 'xnat',
          start: () => Promise.resolve(),
          stop: () => Promise.resolve(),
          ready: () => ({ ready: false, reason: 'ERR_XNAT_AUTH: XNAT refused the credentials (401).' }),
          describe: () => ({ url: 'https://xnat.example.org', projects: 'HOSPITAL, QUARANTINE' }),
        },
        {
          type: 'folder',
          id: 'folder',
          start: () => Promise.resolve(),
          stop: () => Promise.resolve(),
          ready: () => ({ ready: true }),
          describe: () => ({ path: '/srv/outbox' }),
        },
      ],
    });
    const body = (await server.inject({ method: 'GET', url: '/status' })).json<{ sinks: Record<string, unknown>[] }>();
    expect(body.sinks.find((s) => s.sink === 'xnat')).toMatchObject({
      type: 'xnat-rest',
      ready: false,
      reason: 'ERR_XNAT_AUTH: XNAT refused the credentials (401).',
      detail: { url: 'https://xnat.example.org', projects: 'HOSPITAL, QUARANTINE' },
      lastFailure: { code: 'ERR_SINK_WRITE' },
    });
    // A sink with no job yet is listed too, at zero.
    expect(body.sinks.find((s) => s.sink === 'folder')).toMatchObject({
      type: 'folder',
      ready: true,
      reason: null,
      detail: { path: '/srv/outbox' },
      jobs: { queued: 0, running: 0, done: 0, dead: 0 },
    });
    await server.close();
  });

  it('builds without listening on any port', async () => {
    await app.ready();
    expect(app.server.listening).toBe(false);
  });

  it('answers /healthz with ok and the uptime', async () => {
    clock.advance(2_500);
    const res = await get('/healthz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ok', uptimeSeconds: 2.5 });
  });

  it('answers /readyz with 200 when every check passes', async () => {
    const res = await get('/readyz');
    expect(res.statusCode).toBe(200);
    expect(res.json()).toMatchObject({ ready: true, reasons: [] });
  });

  it('answers /readyz with 503 and the reasons when not ready', async () => {
    readiness = { ...readiness, receiverListening: false, reasons: ['DIMSE receiver is not listening'] };
    const res = await get('/readyz');
    expect(res.statusCode).toBe(503);
    expect(res.json()).toEqual({ ...readiness, ready: false });
  });

  it('reports counts, rates, oldest pending age, jobs, sinks and disk headroom on /status', async () => {
    seedSeries();
    const pending = addSeries(db, {
      state: 'complete',
      first_instance_at: clock.now() - 30_000,
      instance_count: 4,
      byte_count: 40,
    });
    addJob(db, pending, { sink: 'xnat', state: 'queued', run_at: clock.now() - 5_000 });
    const res = await get('/status');
    expect(res.statusCode).toBe(200);
    const body = res.json<StatusBody>();
    expect(body.series.complete).toEqual({ series: 1, instances: 4, bytes: 40 });
    expect(body.instances).toEqual({
      total: 1,
      bytes: 600,
      // Every registered source is counted, those that received nothing at zero.
      bySource: {
        ...Object.fromEntries(SOURCE_TYPES.map((t) => [t, { instances: 0, bytes: 0 }])),
        dimse: { instances: 1, bytes: 600 },
      },
    });
    expect(body.rates.bySource.dimse).toEqual({ instancesPerSecond: 1 / 60, bytesPerSecond: 10 });
    expect(body.oldestPending).toEqual({
      seriesId: pending,
      seriesAgeSeconds: 30,
      jobId: expect.any(Number) as unknown,
      jobOverdueSeconds: 5,
    });
    expect(body.jobs).toEqual({ queued: 1, running: 0, done: 1, dead: 0 });
    expect(body.sinks[0]).toMatchObject({ sink: 'xnat', lastFailure: { code: 'ERR_SINK_WRITE' } });
    expect(body.disk).toEqual({ freeBytes: 8e9, minFreeBytes: 2e9, headroomBytes: 6e9 });
    expect(body.ready).toBe(true);
  });

  it('lists series newest first, filtered by state, with a cursor for the next page', async () => {
    const older = seedSeries();
    seedSeries();
    addSeries(db, { state: 'failed' });
    const res = await get('/series?state=delivered&limit=1');
    expect(res.statusCode).toBe(200);
    const page = res.json<SeriesPage>();
    expect(page.items).toHaveLength(1);
    expect(page.items[0]?.state).toBe('delivered');
    const next = await get(`/series?state=delivered&limit=1&before=${String(page.nextBefore)}`);
    expect(next.json()).toMatchObject({ items: [{ id: older }], nextBefore: null });
  });

  it.each([
    ['/series?state=bogus', /query parameter 'state' must be one of: receiving, complete, delivered, failed/],
    ['/series?limit=0', /query parameter 'limit' must be >= 1/],
    ['/series?limit=501', /'limit'/],
    ['/series?before=abc', /'before' must be integer/],
    ['/series/abc', /path parameter 'id' must be integer/],
  ])('rejects %s with 400 and a clear message', async (url, message) => {
    const res = await get(url);
    expect(res.statusCode).toBe(400);
    expect(res.json()).toEqual({ error: 'bad request', message: expect.stringMatching(message) as unknown });
  });

  it('returns the timeline of one series batch on /series/:id', async () => {
    const s = seedSeries();
    const res = await get(`/series/${String(s)}`);
    expect(res.statusCode).toBe(200);
    const t = res.json<SeriesTimeline>();
    expect(t).toMatchObject({
      id: s,
      state: 'delivered',
      completedAt: 5_000,
      deliveredAt: 6_000,
      eventsTruncated: false,
    });
    expect(t.associations[0]).toMatchObject({ callingAe: 'CT1', peerIp: '10.1.2.3', instances: 1 });
    expect(t.jobs[0]?.attempts.map((a) => a.outcome)).toEqual(['retry', 'delivered']);
    expect(t.events[0]).toMatchObject({ kind: 'instance.replaced', detail: { code: 'ok' } });
  });

  it('answers 404 with a JSON error for an unknown series and an unknown route', async () => {
    for (const url of ['/series/999', '/nope']) {
      const res = await get(url);
      expect(res.statusCode).toBe(404);
      expect(res.json()).toEqual({ error: 'not found' });
    }
  });

  it('never returns patient keys or values from /series or /series/:id', async () => {
    const s = seedSeries();
    for (const url of ['/series', `/series/${String(s)}`]) {
      const res = await get(url);
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toContain('PatientName');
      expect(res.body).not.toContain('DOE');
      expect(keysDeep(res.json()).filter((k) => /patient/i.test(k))).toEqual([]);
    }
  });

  it('strips fields the response schemas do not declare, so a future column cannot leak', async () => {
    const s = seedSeries();
    const real = createStats(db, SOURCE_TYPES);
    const leaky = {
      ...real,
      listSeries: async (q: Parameters<typeof real.listSeries>[0]) => {
        const page = await real.listSeries(q);
        return { ...page, items: page.items.map((i) => ({ ...i, PatientName: 'DOE^JOHN' })) };
      },
      timeline: async (id: number) =>
        ({ ...(await real.timeline(id)), patientId: 'X1' }) as Awaited<ReturnType<typeof real.timeline>>,
    };
    const leakyApp = buildStatusServer({
      sources: SOURCE_TYPES,
      log: createLogger('silent'),
      stats: leaky,
      rates: createRateTracker(clock, SOURCE_TYPES),
      metrics,
      readiness: () => Promise.resolve(readiness),
      clock,
    });
    for (const url of ['/series', `/series/${String(s)}`]) {
      const res = await leakyApp.inject({ method: 'GET', url });
      expect(res.statusCode).toBe(200);
      expect(res.body).not.toMatch(/patient|DOE/i);
    }
    await leakyApp.close();
  });

  it('serves /metrics as Prometheus text that parses', async () => {
    const res = await get('/metrics');
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
    const { problems, samples } = parseExposition(res.body);
    expect(problems).toEqual([]);
    expect(samples.get('xnat_gateway_instances_received_total{source="dimse",outcome="stored"}')).toBe(1);
    expect(samples.get('xnat_gateway_ready')).toBe(1);
  });

  it('answers 500 without internal detail when a query fails, and logs the error', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        lines.push(chunk.toString());
        cb();
      },
    });
    const stats = {
      ...createStats(db, SOURCE_TYPES),
      sourceTotals: () => {
        throw new Error('SQLITE_IOERR: disk I/O error at /data/db');
      },
    };
    const broken = buildStatusServer({
      sources: SOURCE_TYPES,
      log: createLogger('error', sink),
      stats,
      rates: createRateTracker(clock, SOURCE_TYPES),
      metrics,
      readiness: () => Promise.resolve(readiness),
      clock,
    });
    const res = await broken.inject({ method: 'GET', url: '/status' });
    await broken.close();
    expect(res.statusCode).toBe(500);
    expect(res.json()).toEqual({ error: 'internal error' });
    expect(lines.join('')).toContain('Status request failed.');
  });
});
