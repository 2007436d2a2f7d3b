// A pulled series does not wait out the quiet period: once every instance the PACS counted has
// arrived (and the PACS's association has closed) its batch completes and goes on to routing,
// de-identification and delivery. Shown with a daemon whose quiet period (10 min) would hold any
// pushed series far past this test's time limit, Orthanc as the PACS by C-GET, the fake XNAT.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { orthancByGet, startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { writeStudies } from '../../helpers/pacs.ts';
import { describeWithPeers } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { gatewayFor } from '../../helpers/xnat-e2e.ts';

interface PullJson {
  pull: { id: string; state: string };
  rows: { state: string; expected: number | null; verified: number | null }[];
}

describeWithPeers(['Orthanc'], 'a pulled study, completed on arrival', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-pull-early-'));
  let orthanc: OrthancHandle;
  let xnat: FakeXnat;
  let gw: TestDaemon;

  beforeAll(async () => {
    const studies = await writeStudies(join(scratch, 'studies'), [
      { accessionNumber: 'Q001', patientId: 'PQ1', series: [3, 2] },
    ]);
    orthanc = await startOrthanc();
    for (const f of studies.flatMap((s) => s.files)) {
      await orthanc.upload(f);
    }
    xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 200, projects: [{ id: 'HOSPITAL' }] });
    gw = await gatewayFor(xnat, {
      password: 'pw',
      overrides: {
        series: { quietPeriodMs: 600_000, checkIntervalMs: 50 },
        dimse: { port: 0, host: '127.0.0.1' },
        http: { port: 0 },
        pacs: [orthancByGet(orthanc)],
        pull: { arrivalTimeoutMs: 5000, arrivalPollMs: 100, verifyIntervalMs: 1000 },
      },
    });
  });
  afterAll(async () => {
    await gw.stop();
    await xnat.close();
    await orthanc.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('is delivered and verified without waiting out the 10-minute quiet period', async () => {
    const base = `http://127.0.0.1:${String(gw.httpPort)}`;
    const res = await fetch(`${base}/pulls?pacs=orthanc-get`, {
      method: 'POST',
      headers: { 'content-type': 'text/csv' },
      body: 'AccessionNumber\nQ001\n',
    });
    expect(res.status, await res.clone().text()).toBe(201);
    const { pull } = (await res.json()) as PullJson;
    const detail = async (): Promise<PullJson> => (await (await fetch(`${base}/pulls/${pull.id}`)).json()) as PullJson;
    await waitFor(async () => (await detail()).pull.state === 'ended', 'the pull to end', 60_000, 250);
    const row = (await detail()).rows[0];
    expect(row, JSON.stringify(row)).toMatchObject({ state: 'verified', expected: 5, verified: 5 });
    // In XNAT once: one session, series of 3 and 2 instances.
    expect(xnat.archive().map((s) => s.scans.map((c) => c.files.length).sort())).toEqual([[2, 3]]);
    // Both series completed as soon as they were whole, and recorded as such.
    const completed = gw.daemon.db
      .prepare("SELECT detail FROM events WHERE kind = 'series.completed'")
      .pluck()
      .all() as string[];
    expect(completed.map((d) => (JSON.parse(d) as { early?: boolean }).early)).toEqual([true, true]);
  });
});
