// POST /series/:id/discard (admin token, reason required), the admin token file's mode checked at
// every request, POST /explain one upload at a time (429), behind the token beyond loopback, 507
// when its space cannot be reserved, and the spool's holdings in /status.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { DiscardResult } from '../../../src/pipeline/discard.ts';
import { HOLDING_REASONS } from '../../../src/store/originals.ts';
import { createStats } from '../../../src/store/sqlite/stats.ts';
import { createDiskSpace } from '../../../src/spool/disk-space.ts';
import { createMetrics, type Metrics } from '../../../src/status/metrics.ts';
import { createRateTracker } from '../../../src/status/rates.ts';
import type { RoutingView, SpoolView } from '../../../src/status/deps.ts';
import { buildStatusServer } from '../../../src/status/server.ts';
import { fakeClock, tmpDb } from '../../helpers/queue-rows.ts';
import { SOURCE_TYPES } from '../../../src/app/registry.ts';
import { alwaysReady } from '../../helpers/readiness.ts';

describe('admin routes', () => {
  let dir: string;
  let tokenFile: string;
  let close: () => void;
  let metrics: Metrics;
  let app: FastifyInstance;
  let discards: { id: number; by: string; reason: string }[];
  let discardAnswer: DiscardResult;
  let explained: number;
  let free: number;

  function build(o: { explainNeedsAdmin?: boolean } = {}): FastifyInstance {
    const t = tmpDb();
    close = t.close;
    const clock = fakeClock(1_000_000);
    const events = createEvents();
    const stats = createStats(t.db, SOURCE_TYPES);
    const readiness = alwaysReady;
    metrics = createMetrics({ sources: SOURCE_TYPES, events, stats, clock, readiness });
    const space = createDiskSpace({ minFreeBytes: 1000, freeBytes: () => free });
    const routing: RoutingView = {
      get: () => Promise.resolve(undefined),
      counts: () => Promise.resolve({ waiting: 0, quarantined: 0, released: 0 }),
      rules: () => ({ hash: 'h', loadedAt: 0, files: [], lastError: null }),
      release: () => Promise.resolve({ ok: false, status: 404, message: 'no' }),
      explainUpload: () => {
        explained++;
        return Promise.resolve({ series: [], skipped: [] });
      },
      adminTokenFile: tokenFile,
      uploadDir: join(dir, 'work'),
      explainMaxBytes: 1 << 20,
      ...(o.explainNeedsAdmin ? { explainNeedsAdmin: true } : {}),
      reserveUpload: (bytes) => space.reserve(dir, bytes),
    };
    const spool: SpoolView = {
      holdings: () =>
        Promise.resolve(
          Object.fromEntries(
            HOLDING_REASONS.map((k, i) => [k, { series: i, files: i * 10, bytes: i * 1000 }]),
          ) as Awaited<ReturnType<SpoolView['holdings']>>,
        ),
      retainDelivered: 0,
      adminTokenFile: tokenFile,
      originals: () => Promise.resolve(undefined),
      discard: (id, by, reason) => {
        discards.push({ id, by, reason });
        return Promise.resolve(discardAnswer);
      },
    };
    return buildStatusServer({
      sources: SOURCE_TYPES,
      log: createLogger('silent'),
      stats,
      rates: createRateTracker(clock, SOURCE_TYPES),
      metrics,
      readiness,
      clock,
      routing,
      spool,
    });
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-admin-'));
    tokenFile = join(dir, 'tokens');
    writeFileSync(tokenFile, 'alice:s3cret\n', { mode: 0o600 });
    discards = [];
    discardAnswer = { ok: true, seriesId: 7, files: 3, bytes: 300, jobsCancelled: 1 };
    explained = 0;
    free = 1e9;
    app = build();
  });
  afterEach(async () => {
    await app.close();
    metrics.close();
    close();
    rmSync(dir, { recursive: true, force: true });
  });

  const auth = { authorization: 'Bearer s3cret' };
  const discard = (body: unknown, headers: Record<string, string> = auth) =>
    app.inject({
      method: 'POST',
      url: '/series/7/discard',
      headers: { 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(body),
    });

  it('discards with a bearer token and a reason, recording who', async () => {
    const res = await discard({ reason: '  burned-in name  ' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ seriesId: 7, files: 3, bytes: 300, jobsCancelled: 1, by: 'alice' });
    expect(discards).toEqual([{ id: 7, by: 'alice', reason: 'burned-in name' }]);
  });

  it('refuses a discard without a token, with a wrong one, or without a reason', async () => {
    expect((await discard({ reason: 'x' }, {})).statusCode).toBe(401);
    expect((await discard({ reason: 'x' }, { authorization: 'Bearer nope' })).statusCode).toBe(401);
    expect((await discard({})).statusCode).toBe(400);
    expect((await discard({ reason: '   ' })).statusCode).toBe(400);
    expect(discards).toEqual([]);
  });

  it('passes on a refusal (409) with its message', async () => {
    discardAnswer = { ok: false, status: 409, message: 'Series 7 is still receiving; discard it once it is complete.' };
    const res = await discard({ reason: 'x' });
    expect(res.statusCode).toBe(409);
    expect(res.json()).toEqual({ error: 'conflict', message: discardAnswer.message });
  });

  it('checks the token file mode at every request, not only at start-up', async () => {
    expect((await discard({ reason: 'x' })).statusCode).toBe(200);
    chmodSync(tokenFile, 0o644);
    const open = await discard({ reason: 'x' });
    expect(open.statusCode).toBe(403);
    expect(open.json()).toMatchObject({ message: expect.stringContaining('readable by others (mode 644)') as unknown });
    chmodSync(tokenFile, 0o600);
    expect((await discard({ reason: 'x' })).statusCode).toBe(200);
    expect(discards).toHaveLength(2);
  });

  it('shows what the spool holds and why in /status', async () => {
    const body = (await app.inject({ method: 'GET', url: '/status' })).json<{
      spool: { holding: Record<string, unknown>; retainDelivered: unknown };
    }>();
    expect(body.spool.holding.quarantined).toEqual({ series: 3, files: 30, bytes: 3000 });
    expect(Object.keys(body.spool.holding)).toEqual([...HOLDING_REASONS]);
    expect(body.spool.retainDelivered).toBe(0);
  });

  describe('POST /explain', () => {
    const post = (payload: unknown, headers: Record<string, string> = {}) =>
      app.inject({
        method: 'POST',
        url: '/explain',
        headers: { 'content-type': 'application/octet-stream', ...headers },
        payload: payload as string,
      });

    it('takes one upload at a time: a second one meanwhile gets 429', async () => {
      const body = new PassThrough();
      const first = post(body);
      body.write(Buffer.alloc(1000));
      await new Promise((r) => setTimeout(r, 50));
      const second = await post(Buffer.alloc(10));
      expect(second.statusCode).toBe(429);
      expect(second.headers['retry-after']).toBe('10');
      body.end(Buffer.alloc(1000));
      expect((await first).statusCode).toBe(200);
      expect((await post(Buffer.alloc(10))).statusCode).toBe(200);
      expect(explained).toBe(2);
    });

    it('answers 507 when the upload cannot be reserved above the watermark, and writes nothing', async () => {
      free = 1500; // watermark 1000: 500 bytes left
      const res = await post(Buffer.alloc(800));
      expect(res.statusCode).toBe(507);
      expect(res.json()).toMatchObject({ error: 'insufficient storage' });
      expect(explained).toBe(0);
      free = 1e9;
      expect((await post(Buffer.alloc(800))).statusCode).toBe(200);
    });

    it('needs the admin token when the server listens beyond loopback', async () => {
      await app.close();
      metrics.close();
      close();
      app = build({ explainNeedsAdmin: true });
      expect((await post(Buffer.alloc(10))).statusCode).toBe(401);
      expect((await post(Buffer.alloc(10), auth)).statusCode).toBe(200);
    });
  });
});
