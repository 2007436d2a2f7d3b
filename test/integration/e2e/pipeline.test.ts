// The whole path in one process: storescu → spool → series completion → folder sink, seen over HTTP.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { newUid, writeInstance, writeSeries } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { outboxCounts } from '../../helpers/outbox.ts';

interface SeriesItem {
  id: number;
  batch: number;
  state: string;
  instanceCount: number;
  seriesUid: string;
}

describeWithPeers(['storescu'], 'pipeline end to end', () => {
  let gw: TestDaemon;
  const scratch = mkdtempSync(join(tmpdir(), 'xg-e2e-'));
  const study = newUid();
  const series = newUid();
  const api = async <T>(path: string): Promise<T> => {
    const r = await fetch(`http://127.0.0.1:${String(gw.httpPort)}${path}`);
    expect(r.status, path).toBe(200);
    return (await r.json()) as T;
  };
  const send = async (...files: string[]): Promise<void> => {
    const r = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), ...files]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  const batches = async (): Promise<SeriesItem[]> =>
    (await api<{ items: SeriesItem[] }>('/series')).items.filter((s) => s.seriesUid === series);
  beforeAll(async () => {
    gw = await startTestDaemon({ series: { quietPeriodMs: 300, checkIntervalMs: 50 } });
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('delivers a series, ignores an identical re-send and delivers late instances as a second batch', async () => {
    const files = await writeSeries(join(scratch, 'a'), {
      count: 10,
      studyInstanceUid: study,
      seriesInstanceUid: series,
    });
    await send(...files);
    await waitFor(async () => (await batches()).some((b) => b.state === 'delivered'), 'first batch delivered');
    const [first] = await batches();
    expect(first).toMatchObject({ batch: 1, state: 'delivered', instanceCount: 10 });

    await send(...files); // a console re-sends the same images
    const late = await writeInstance(join(scratch, 'late.dcm'), {
      studyInstanceUid: study,
      seriesInstanceUid: series,
      instanceNumber: 11,
    });
    await send(late.path);
    await waitFor(
      async () => (await batches()).filter((b) => b.state === 'delivered').length === 2,
      'second batch delivered',
    );
    const all = await batches();
    expect(all.map((b) => [b.batch, b.instanceCount]).sort()).toEqual([
      [1, 10],
      [2, 1],
    ]);
    // Both batches land in the one de-identified series folder (the keyed UIDs are the same).
    expect(outboxCounts(join(gw.dataDir, 'outbox'))).toEqual([11]);

    const timeline = await api<{
      events: { kind: string }[];
      jobs: { attempts: { outcome: string }[] }[];
      associations: { callingAe: string }[];
    }>(`/series/${String(first?.id)}`);
    expect(timeline.events.filter((e) => e.kind === 'instance.duplicate')).toHaveLength(10);
    expect(timeline.jobs[0]?.attempts.map((a) => a.outcome)).toEqual(['delivered']);
    expect(timeline.associations[0]?.callingAe).toBe('STORESCU');
    const status = await api<{ series: Record<string, { series: number }>; ready: boolean }>('/status');
    expect(status.ready).toBe(true);
    const metrics = await (await fetch(`http://127.0.0.1:${String(gw.httpPort)}/metrics`)).text();
    expect(metrics).toMatch(/xnat_gateway_instances_received_total\{[^}]*outcome="duplicate"[^}]*\} 10/);
    expect(JSON.stringify(timeline)).not.toMatch(/Test\^Patient|TEST0001/);
  });
});
