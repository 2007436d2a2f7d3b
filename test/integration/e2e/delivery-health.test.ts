// Health tells the truth: when deliveries keep failing for a reason no retry can fix, /status,
// /healthz/delivery and /metrics say "degraded" with the reason, while /readyz keeps answering
// about receiving (a load balancer must not stop sending scans because delivery is broken).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const scratch = mkdtempSync(join(tmpdir(), 'xg-health-'));
let gw: TestDaemon | undefined;
afterEach(async () => {
  await gw?.stop();
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const get = async (g: TestDaemon, path: string): Promise<{ status: number; text: string }> => {
  const r = await fetch(`http://127.0.0.1:${String(g.httpPort)}${path}`);
  return { status: r.status, text: await r.text() };
};

describeWithPeers(['storescu'], 'delivery health', () => {
  it('reports degraded with the reason while a sink cannot write, stays ready to receive, and recovers', async () => {
    const blocker = join(scratch, 'a-file-not-a-folder');
    writeFileSync(blocker, 'the folder sink cannot create its outbox below a regular file');
    gw = await startTestDaemon({
      sinks: [{ type: 'folder', path: join(blocker, 'outbox') }],
      workers: { maxAttempts: 50, pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 200 },
    });
    const g = gw;
    expect((await get(g, '/healthz/delivery')).status).toBe(200);
    const files = await writeSeries(join(scratch, 'series'), { count: 2 });
    expect((await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(g.dimsePort), ...files])).code).toBe(0);
    await waitFor(async () => (await get(g, '/healthz/delivery')).status === 503, 'delivery degraded', 20_000, 100);

    const health = JSON.parse((await get(g, '/healthz/delivery')).text) as {
      status: string;
      reasons: { sink: string; code: string; error: string | null; failures: number }[];
    };
    expect(health.status).toBe('degraded');
    expect(health.reasons).toHaveLength(1);
    expect(health.reasons[0]).toMatchObject({ sink: 'folder', code: 'ERR_SINK_WRITE' });
    expect(health.reasons[0]?.error).toMatch(/ENOTDIR|not a directory/i);
    const status = JSON.parse((await get(g, '/status')).text) as { ready: boolean; delivery: { status: string } };
    expect(status.delivery.status).toBe('degraded');
    // Receiving is fine: /readyz answers about that alone.
    expect(status.ready).toBe(true);
    expect((await get(g, '/readyz')).status).toBe(200);
    const metrics = (await get(g, '/metrics')).text;
    expect(metrics).toContain('xnat_gateway_delivery_degraded 1');
    expect(metrics).toContain('xnat_gateway_delivery_degraded_sinks{sink="folder",code="ERR_SINK_WRITE"} 1');

    // The administrator fixes the cause; the next attempt delivers and health is ok again.
    rmSync(blocker);
    await waitFor(async () => (await get(g, '/healthz/delivery')).status === 200, 'delivery ok again', 20_000, 100);
    expect((await get(g, '/metrics')).text).toContain('xnat_gateway_delivery_degraded 0');
  });
});
