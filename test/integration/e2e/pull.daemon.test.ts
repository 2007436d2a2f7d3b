// A pull inside the running daemon: a list POSTed to /pulls, studies C-MOVEd by Orthanc into the
// gateway's own receiver, attributed to their rows, de-identified, delivered to the fake XNAT and
// verified there; C-GET instances go through the same intake. Pause, resume, cancel and the
// authorisation of the endpoints over HTTP.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { orthancByGet, startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { writeStudies, type GeneratedStudy } from '../../helpers/pacs.ts';
import { describeWithPeers, freePort, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { gatewayFor, passwordFile } from '../../helpers/xnat-e2e.ts';

interface RowJson {
  line: number;
  state: string;
  reason: string | null;
  expected: number | null;
  received: number;
  delivered: number | null;
  verified: number | null;
  xnatUrl: string | null;
  xnatSession: string | null;
  key?: { accessionNumber: string | null };
  candidates: unknown[] | null;
  series: { expected: number | null; received: number; delivered: number | null; verified: number | null }[];
}
interface DetailJson {
  pull: { id: string; state: string; counts: Record<string, number> };
  verifies: boolean;
  rows: RowJson[];
  totals: { verified: number };
}

describeWithPeers(['Orthanc'], 'pulls in the running daemon', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-pull-daemon-'));
  let orthanc: OrthancHandle;
  let xnat: FakeXnat;
  let gw: TestDaemon;
  let studies: GeneratedStudy[];
  const tokenFile = join(scratch, 'tokens');
  let base = '';

  beforeAll(async () => {
    studies = await writeStudies(join(scratch, 'studies'), [
      { accessionNumber: 'P001', patientId: 'PA1', series: [3, 2] },
      { accessionNumber: 'P002', patientId: 'PA2', series: [4] },
      { accessionNumber: 'P003', patientId: 'PA3', series: [2] },
      { accessionNumber: 'SAME', patientId: 'PA4', series: [1] },
      { accessionNumber: 'SAME', patientId: 'PA5', series: [1] },
      { accessionNumber: 'P004', patientId: 'PA6', series: [20] },
      { accessionNumber: 'G001', patientId: 'PA7', series: [4, 3] },
      { accessionNumber: 'R001', patientId: 'PA8', series: [2] },
      { accessionNumber: 'R002', patientId: 'PA9', series: [1] },
      { accessionNumber: 'L001', patientId: 'PL1', series: [2] },
      { accessionNumber: 'L002', patientId: 'PL2', series: [1] },
      { accessionNumber: 'L003', patientId: 'PL3', series: [1] },
    ]);
    writeFileSync(tokenFile, 'ops:s3cret\n');
    chmodSync(tokenFile, 0o600);
    const dimsePort = await freePort();
    orthanc = await startOrthanc({ modalities: { gateway: ['XNAT', '127.0.0.1', dimsePort] } });
    for (const f of studies.flatMap((s) => s.files)) {
      await orthanc.upload(f);
    }
    xnat = await startFakeXnat({
      users: { admin: 'admin', gw: 'pw' },
      idleMs: 200,
      projects: [{ id: 'HOSPITAL' }, { id: 'QUARANTINE' }, { id: 'RESEARCH' }, { id: 'OTHER' }],
    });
    gw = await gatewayFor(xnat, {
      password: 'pw',
      overrides: {
        dimse: { port: dimsePort, host: '127.0.0.1' },
        http: { port: 0, adminTokenFile: tokenFile },
        pacs: [
          {
            name: 'orthanc',
            aeTitle: 'ORTHANC',
            host: '127.0.0.1',
            port: orthanc.dicomPort,
            callingAe: 'XNAT',
            schedule: { windows: [{ maxAssociations: 2, maxStudiesInFlight: 2 }] },
          },
          // The same Orthanc by C-GET: the instances come back on our association, into the intake.
          orthancByGet(orthanc),
        ],
        pull: {
          backoffBaseMs: 200,
          backoffMaxMs: 500,
          arrivalTimeoutMs: 5000,
          arrivalPollMs: 100,
          verifyIntervalMs: 1000,
          echoIntervalMs: 1000,
        },
      },
    });
    base = `http://127.0.0.1:${String(gw.httpPort)}`;
  });
  afterAll(async () => {
    await gw.stop();
    await xnat.close();
    await orthanc.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const post = (path: string, body?: string, headers: Record<string, string> = {}): Promise<Response> =>
    fetch(`${base}${path}`, {
      method: 'POST',
      headers: { ...(body === undefined ? {} : { 'content-type': 'text/csv' }), ...headers },
      ...(body === undefined ? {} : { body }),
    });
  const detail = async (id: string, headers: Record<string, string> = {}): Promise<DetailJson> =>
    (await (await fetch(`${base}/pulls/${id}`, { headers })).json()) as DetailJson;

  it('pulls a list by C-MOVE into the daemon, delivers each study to XNAT once and verifies it there', async () => {
    const res = await post(
      '/pulls?pacs=orthanc&name=list.csv',
      'AccessionNumber\nP001\nP002\nP003\nSAME\nNOPE\nP002\n',
    );
    expect(res.status, await res.clone().text()).toBe(201);
    const created = (await res.json()) as DetailJson;
    expect(created.rows).toHaveLength(6);
    const id = created.pull.id;
    await waitFor(
      async () => (await detail(id)).pull.state === 'ended',
      'the pull to end with every row verified',
      60_000,
      250,
    ).catch(async (err: unknown) => {
      throw new Error(
        `${String(err)}\n${JSON.stringify((await detail(id)).rows.map((r) => [r.line, r.state, r.reason, r.series]))}`,
      );
    });
    const d = await detail(id, { authorization: 'Bearer s3cret' });
    expect(d.verifies).toBe(true);
    expect(d.rows.map((r) => [r.key?.accessionNumber, r.state])).toEqual([
      ['P001', 'verified'],
      ['P002', 'verified'],
      ['P003', 'verified'],
      ['SAME', 'ambiguous'],
      ['NOPE', 'not-found'],
      ['P002', 'duplicate'],
    ]);
    const p001 = d.rows[0];
    expect(p001).toMatchObject({ expected: 5, received: 5, delivered: 5, verified: 5 });
    expect(p001?.series.map((s) => [s.expected, s.received, s.delivered, s.verified])).toEqual([
      [3, 3, 3, 3],
      [2, 2, 2, 2],
    ]);
    expect(p001?.xnatUrl).toMatch(/^\/data\/archive\/projects\/HOSPITAL\/subjects\//);
    expect(d.rows[3]?.candidates).toHaveLength(2);
    // In XNAT once each: three sessions, series of 3, 2, 4 and 2 instances.
    expect(
      xnat
        .archive()
        .map((s) => s.scans.map((c) => c.files.length).sort())
        .sort(),
    ).toEqual([[2], [2, 3], [4]].sort());
    // Each instance was received once (the spool's instances table): nothing fetched twice.
    const dup = gw.daemon.db
      .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT sop_instance_uid) AS d FROM instances')
      .get() as { n: number; d: number };
    expect(dup).toEqual({ n: 11, d: 11 });
    // Without a token, identifiers are not shown.
    const anon = await detail(id);
    expect(anon.rows[0]?.key).toBeUndefined();
    // The report: identifiers only with a token.
    const csv = await (
      await fetch(`${base}/pulls/${id}/report.csv`, { headers: { authorization: 'Bearer s3cret' } })
    ).text();
    expect(csv).toContain('P001');
    expect(await (await fetch(`${base}/pulls/${id}/report.csv`)).text()).not.toContain('P001');
  });

  it('pulls by C-GET through the same intake: spooled, delivered and verified like a pushed study', async () => {
    const res = await post('/pulls?pacs=orthanc-get', 'AccessionNumber\nG001\n');
    expect(res.status).toBe(201);
    const { pull } = (await res.json()) as DetailJson;
    await waitFor(async () => (await detail(pull.id)).pull.state === 'ended', 'the C-GET pull to end', 60_000, 250);
    const [row] = (await detail(pull.id)).rows;
    expect(row).toMatchObject({ state: 'verified', expected: 7, received: 7, delivered: 7, verified: 7 });
    const senders = gw.daemon.db
      .prepare(
        'SELECT DISTINCT i.calling_ae AS calling, i.called_ae AS called FROM instances i JOIN series s ON s.id = i.series_id WHERE s.study_uid = ?',
      )
      .all(studies[6]?.studyInstanceUid);
    // On a C-GET the PACS sends the C-STOREs on our association: it is the requestor of those, we are GETTER.
    expect(senders).toEqual([{ calling: 'ORTHANC', called: 'GETTER' }]);
    // The intake association it used is closed, so its series could complete.
    expect(
      gw.daemon.db
        .prepare("SELECT COUNT(*) FROM associations WHERE called_ae = 'GETTER' AND closed_at IS NULL")
        .pluck()
        .get(),
    ).toBe(0);
  });

  it('files a pulled study under the project its row (or the pull) names, and the session label its row gives', async () => {
    const res = await post(
      '/pulls?pacs=orthanc&project=RESEARCH',
      'AccessionNumber,Project,Session\nR001,,Visit_A\nR002,OTHER,\n',
    );
    expect(res.status).toBe(201);
    const { pull } = (await res.json()) as DetailJson;
    await waitFor(async () => (await detail(pull.id)).pull.state === 'ended', 'the pull to end', 60_000, 250);
    const rows = (await detail(pull.id)).rows;
    expect(rows.map((r) => r.state)).toEqual(['verified', 'verified']);
    // The row's session label is the session's; the other row's comes from the pseudonym ledger.
    expect(rows[0]?.xnatUrl).toMatch(
      /^\/data\/archive\/projects\/RESEARCH\/subjects\/RESEARCH_\d{6}\/experiments\/Visit_A$/,
    );
    expect(rows[1]?.xnatUrl).toMatch(/^\/data\/archive\/projects\/OTHER\//);
    expect((await post('/pulls?pacs=orthanc&project=bad%20name', 'AccessionNumber\nR001\n')).status).toBe(400);
  });

  it('files a pulled study under the Subject and Session its row gives, and later series of it in that session', async () => {
    const res = await post(
      '/pulls?pacs=orthanc&project=RESEARCH',
      'AccessionNumber,Subject,Session\nL001,Trial_007,Trial_007_V1\nL002,Trial_008,\nL003,,Week_4\n',
    );
    expect(res.status).toBe(201);
    const { pull } = (await res.json()) as DetailJson;
    await waitFor(async () => (await detail(pull.id)).pull.state === 'ended', 'the labelled pull to end', 60_000, 250);
    const rows = (await detail(pull.id)).rows;
    expect(rows.map((r) => r.state)).toEqual(['verified', 'verified', 'verified']);
    const inResearch = (study: string): { subject: string; label: string; scans: number } | undefined => {
      const s = xnat.archive().find((x) => x.project === 'RESEARCH' && x.label === study);
      return s ? { subject: s.subject, label: s.label, scans: s.scans.length } : undefined;
    };
    // Subject and Session given: both are XNAT's; Subject only: the session pattern under that
    // subject; Session only: the subject is the patient's pseudonym.
    expect(rows[0]?.xnatUrl).toBe('/data/archive/projects/RESEARCH/subjects/Trial_007/experiments/Trial_007_V1');
    expect(rows[0]?.xnatSession).toBe('Trial_007_V1');
    expect(inResearch('Trial_007_V1')).toEqual({ subject: 'Trial_007', label: 'Trial_007_V1', scans: 1 });
    expect(inResearch('Trial_008_01')).toEqual({ subject: 'Trial_008', label: 'Trial_008_01', scans: 1 });
    expect(inResearch('Week_4')?.subject).toMatch(/^RESEARCH_\d{6}$/);
    // The pseudonym ledger recorded the listed labels: with the list's labels gone from the row, a
    // later series of the study (pushed by the scanner) still joins the listed session.
    gw.daemon.db
      .prepare('UPDATE pull_rows SET subject_label = NULL, session_label = NULL WHERE study_uid = ?')
      .run(studies[9]?.studyInstanceUid);
    const later = await writeSeries(join(scratch, 'later'), {
      count: 2,
      studyInstanceUid: studies[9]?.studyInstanceUid ?? '',
      accessionNumber: 'L001',
      patientId: 'PL1',
      studyDate: '20240101',
      seriesNumber: 7,
      rows: 8,
      columns: 8,
    });
    const r = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), ...later]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(
      () => inResearch('Trial_007_V1')?.scans === 2,
      'the later series in the listed session',
      30_000,
      200,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)} ${JSON.stringify(xnat.archive().map((x) => [x.project, x.subject, x.label]))}`);
    });
    expect(xnat.archive().filter((x) => x.subject === 'Trial_007')).toHaveLength(1);
  });

  it('asks the XNAT the series went to (of two) again for a session it was still building at delivery, and verifies the row once it can count it', async () => {
    // A second XNAT whose idle task never runs by itself: sessions stay RECEIVING in its prearchive.
    const slow = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 3_600_000, dicom: true });
    // A third that is configured first but delivers only quarantined series: asking it about the
    // pulled study would find nothing there.
    const other = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' } });
    const dimsePort = await freePort();
    const o2 = await startOrthanc({ modalities: { gateway: ['XNAT', '127.0.0.1', dimsePort] } });
    let g2: TestDaemon | null = null;
    try {
      for (const f of studies[2]?.files ?? []) {
        await o2.upload(f);
      }
      g2 = await gatewayFor(slow, {
        password: 'pw',
        overrides: {
          // By C-STORE into XNAT's prearchive, where the session stays RECEIVING until XNAT's idle
          // task builds it; the REST account (of the QUARANTINE sink) looks it up.
          sinks: [
            {
              type: 'xnat-rest',
              url: other.url,
              user: 'gw',
              passwordFile: passwordFile('pw'),
              projects: ['QUARANTINE'],
              requestTimeoutMs: 2_000,
            },
            {
              type: 'xnat-dimse',
              host: '127.0.0.1',
              port: slow.dicom?.port ?? 0,
              calledAe: slow.dicom?.aeTitle ?? 'XNAT',
              projects: ['HOSPITAL'],
              responseTimeoutMs: 5_000,
              verifyWith: 'xnat-rest-3',
            },
            {
              type: 'xnat-rest',
              url: slow.url,
              user: 'gw',
              passwordFile: passwordFile('pw'),
              projects: ['QUARANTINE'],
              requestTimeoutMs: 2_000,
            },
          ],
          dimse: { port: dimsePort, host: '127.0.0.1' },
          pacs: [{ name: 'orthanc', aeTitle: 'ORTHANC', host: '127.0.0.1', port: o2.dicomPort, callingAe: 'XNAT' }],
          pull: { arrivalTimeoutMs: 5000, arrivalPollMs: 100, verifyIntervalMs: 1000 },
        },
      });
      const url = `http://127.0.0.1:${String(g2.httpPort)}`;
      const res = await fetch(`${url}/pulls?pacs=orthanc`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: 'AccessionNumber\nP003\n',
      });
      expect(res.status).toBe(201);
      const { pull } = (await res.json()) as DetailJson;
      const row = async (): Promise<RowJson | undefined> =>
        ((await (await fetch(`${url}/pulls/${pull.id}`)).json()) as DetailJson).rows[0];
      await waitFor(
        async () => (await row())?.state === 'delivered',
        'the row delivered, not verified yet',
        30_000,
        100,
      ).catch(async (err: unknown) => {
        throw new Error(
          `${String(err)} ${JSON.stringify(await row())} ${JSON.stringify(g2?.daemon.db.prepare('SELECT sink, state, detail, last_error FROM jobs').all())}`,
        );
      });
      expect(await row()).toMatchObject({ delivered: 2, verified: null });
      // Asked again (pull.verifyIntervalMs): still being built, still not verified.
      await new Promise((r) => setTimeout(r, 1500));
      expect((await row())?.state).toBe('delivered');
      slow.flushIdle();
      await waitFor(
        async () => (await row())?.state === 'verified',
        'the row verified once XNAT built the session',
        30_000,
        100,
      );
      expect(await row()).toMatchObject({ delivered: 2, verified: 2 });
      expect((await row())?.xnatSession).toMatch(/^HOSPITAL_\d{6}_\d+$/);
      // Every count came from the XNAT holding the session, none from the first configured.
      expect(other.requests.filter((r) => r.path.includes('/projects/HOSPITAL'))).toEqual([]);
    } finally {
      await g2?.stop();
      await o2.stop();
      await slow.close();
      await other.close();
    }
  });

  describe('the endpoints', () => {
    it('refuses a browser on another site, an unknown PACS, a bad list, and lists pulls', async () => {
      expect(
        (await post('/pulls?pacs=orthanc', 'AccessionNumber\nP003\n', { origin: 'http://evil.example' })).status,
      ).toBe(401);
      const unknown = await post('/pulls?pacs=nope', 'AccessionNumber\nP003\n');
      expect(unknown.status).toBe(404);
      expect(await unknown.json()).toMatchObject({ code: 'ERR_PULL_PACS_UNKNOWN' });
      const bad = await post('/pulls?pacs=orthanc', 'Foo,Bar\n1,2\n');
      expect(bad.status).toBe(400);
      expect(await bad.json()).toMatchObject({ code: 'ERR_PULL_LIST' });
      const form = await fetch(`${base}/pulls?pacs=orthanc`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: 'a=b',
      });
      expect(form.status).toBe(415);
      const list = (await (await fetch(`${base}/pulls`)).json()) as {
        items: { id: string }[];
        pacs: { name: string; echo: { ok: boolean } | null }[];
      };
      expect(list.items.length).toBeGreaterThanOrEqual(1);
      expect(list.pacs[0]?.name).toBe('orthanc');
      await waitFor(
        async () => (await fetch(`${base}/healthz/pacs`)).status === 200,
        'C-ECHO of Orthanc in /healthz/pacs',
        10_000,
      );
    });

    it('pauses, resumes and cancels a pull', async () => {
      const res = await post('/pulls?pacs=orthanc', 'AccessionNumber\nP004\n', { authorization: 'Bearer s3cret' });
      expect(res.status).toBe(201);
      const { pull } = (await res.json()) as DetailJson;
      const paused = await post(`/pulls/${pull.id}/pause`, undefined, { authorization: 'Bearer s3cret' });
      expect(await paused.json()).toMatchObject({ state: 'paused', pauseReason: 'paused by ops' });
      expect((await post(`/pulls/${pull.id}/pause`, undefined, { authorization: 'Bearer wrong' })).status).toBe(401);
      expect(await (await post(`/pulls/${pull.id}/resume`)).json()).toMatchObject({ state: 'active' });
      const cancelled = (await (await post(`/pulls/${pull.id}/cancel`)).json()) as { state: string };
      expect(['cancelled', 'ended']).toContain(cancelled.state);
      expect((await post(`/pulls/${pull.id}/resume`)).status).toBe(409);
      expect((await fetch(`${base}/pulls/00000000-0000-0000-0000-000000000000`)).status).toBe(404);
    });
  });
});
