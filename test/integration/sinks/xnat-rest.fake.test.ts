// The xnat-rest sink against the fake XNAT (test/helpers/fake-xnat, faithful to reference/xnat.md §6):
// streamed DICOM-zip, one login reused, verified arrival, and every failure class of the contract.
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { JobContext, SeriesSnapshot, Sink } from '../../../src/contracts/component.ts';
import { systemClock } from '../../../src/clock.ts';
import { xnatRestSinkConfig, type XnatRestSinkConfig } from '../../../src/sinks/xnat-rest/config.ts';
import { create } from '../../../src/sinks/xnat-rest/index.ts';
import { importUrl, writeZip } from '../../helpers/fake-xnat/curl.ts';
import { startFakeXnat, type FakeXnat, type FakeXnatOptions } from '../../helpers/fake-xnat/index.ts';
import { writeSnapshot } from '../../helpers/snapshot-files.ts';

const scratch = mkdtempSync(join(tmpdir(), 'xg-rest-'));
const secret = join(scratch, 'password');
writeFileSync(secret, 'gw-secret\n');
chmodSync(secret, 0o600);
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const log = createLogger('silent');
const ctx = { log, clock: systemClock, events: createEvents() };
let n = 0;
const job = (signal = new AbortController().signal): JobContext => ({
  ...ctx,
  jobId: ++n,
  attempt: 1,
  workDir: scratch,
  signal,
});
const labels = { project: 'HOSPITAL', subject: 'HOSPITAL_000001', session: 'HOSPITAL_000001_01' };

let xnat: FakeXnat;
afterEach(async () => {
  await xnat.close();
});

async function setup(
  o: Partial<XnatRestSinkConfig> = {},
  fake: FakeXnatOptions = {},
): Promise<{ sink: Sink; series: SeriesSnapshot }> {
  xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'gw-secret' }, idleMs: 200, ...fake });
  const config = xnatRestSinkConfig.parse({
    type: 'xnat-rest',
    url: xnat.url,
    user: 'gw',
    passwordFile: secret,
    requestTimeoutMs: 2_000,
    ...o,
  });
  const sink = create(config, ctx, { projects: ['HOSPITAL', 'QUARANTINE'] });
  const series = await writeSnapshot(mkdtempSync(join(scratch, 's-')), { count: 5, labels, seriesNumber: 3 });
  return { sink, series };
}

const imports = (): number => xnat.requests.filter((r) => r.path === '/data/services/import').length;

describe('xnat-rest sink against the fake XNAT', () => {
  beforeAll(() => undefined);

  it('uploads the series of one session one at a time: two workers delivering at once both land, each verified', async () => {
    const { sink, series } = await setup();
    // The study's second series, delivered by a second worker at the same moment (a pull's two series).
    const second = await writeSnapshot(mkdtempSync(join(scratch, 's-')), {
      count: 5,
      labels,
      seriesNumber: 4,
      studyInstanceUid: series.studyInstanceUid,
    });
    const [a, b] = await Promise.all([sink.deliver(series, job()), sink.deliver(second, job())]);
    expect(a).toMatchObject({ outcome: 'delivered', detail: { sent: 5, found: 5 } });
    expect(b).toMatchObject({ outcome: 'delivered', detail: { sent: 5, found: 5 } });
    expect(xnat.archive().map((x) => x.scans.map((c) => [c.id, c.files.length]))).toEqual([
      [
        ['3', 5],
        ['4', 5],
      ],
    ]);
    // XNAT never saw the session's uploads overlap, so it never refused one.
    const uploads = xnat.requests.filter((r) => r.path === '/data/services/import');
    expect(uploads.map((r) => r.status)).toEqual([200, 200]);
  });

  it("archives the series under the anonymiser's labels, logs in once, and verifies the count", async () => {
    const { sink, series } = await setup();
    const d = await sink.deliver(series, job());
    expect(d).toMatchObject({
      outcome: 'delivered',
      receipt: '/data/archive/projects/HOSPITAL/subjects/HOSPITAL_000001/experiments/HOSPITAL_000001_01',
      detail: { xnatStatus: 'ARCHIVED', sent: 5, found: 5 },
    });
    const archived = xnat.archive();
    expect(archived).toHaveLength(1);
    expect(archived[0]).toMatchObject({
      project: 'HOSPITAL',
      subject: labels.subject,
      label: labels.session,
      studyUid: series.studyInstanceUid,
    });
    expect(archived[0]?.scans.map((s) => [s.seriesUid, s.files.length])).toEqual([[series.seriesInstanceUid, 5]]);
    const imp = xnat.requests.find((r) => r.path === '/data/services/import');
    expect(imp).toMatchObject({ method: 'POST', status: 200, auth: 'session', contentType: 'application/zip' });
    expect(imp?.query).toMatchObject({
      'import-handler': 'DICOM-zip',
      inbody: 'true',
      PROJECT_ID: 'HOSPITAL',
      SUBJECT_ID: labels.subject,
      EXPT_LABEL: labels.session,
      overwrite: 'append',
      dest: '/archive/projects/HOSPITAL',
    });
    // One Basic login, then the session cookie for every call (Basic per call overwhelms Tomcat).
    expect(xnat.requests.filter((r) => r.auth === 'basic').map((r) => r.path)).toEqual(['/data/JSESSION']);
  });

  it('to the prearchive: the session is built and READY, with the count checked', async () => {
    const { sink, series } = await setup({ dest: 'prearchive' });
    const d = await sink.deliver(series, job());
    expect(d).toMatchObject({ outcome: 'delivered', detail: { xnatStatus: 'READY', sent: 5, found: 5 } });
    expect(d.outcome === 'delivered' && d.receipt).toMatch(
      /^\/data\/prearchive\/projects\/HOSPITAL\/\d{8}_\d{9}\/HOSPITAL_000001_01$/,
    );
    expect(xnat.archive()).toEqual([]);
  });

  it('re-delivering is idempotent: one session, no doubled files, reported as already held', async () => {
    const { sink, series } = await setup();
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    const again = await sink.deliver(series, job());
    expect(again).toMatchObject({ outcome: 'delivered', detail: { xnatStatus: 'ARCHIVED', found: 5 } });
    expect(again.outcome === 'delivered' && again.receipt).toMatch(
      /^already in XNAT: \/data\/archive\/projects\/HOSPITAL\//,
    );
    expect(xnat.archive()).toHaveLength(1);
    expect(xnat.archive()[0]?.scans[0]?.files).toHaveLength(5);
    // XNAT's refused copy of the re-send (CONFLICT) is not left for the next upload to join.
    expect(xnat.prearchive()).toEqual([]);
  });

  it('authenticates with an alias token (alias as user, secret in the password file)', async () => {
    xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'gw-secret' } });
    const token = xnat.issueToken('gw');
    const file = join(mkdtempSync(join(scratch, 't-')), 'secret');
    writeFileSync(file, token.secret, { mode: 0o600 });
    const sink = create(
      xnatRestSinkConfig.parse({ type: 'xnat-rest', url: xnat.url, user: token.alias, passwordFile: file }),
      ctx,
      { projects: ['HOSPITAL'] },
    );
    await sink.healthcheck(AbortSignal.timeout(5_000));
    const series = await writeSnapshot(mkdtempSync(join(scratch, 's-')), { count: 2, labels });
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    expect(xnat.requests.filter((r) => r.auth === 'alias').map((r) => r.path)).toContain('/data/JSESSION');
  });

  it('logs in again once when XNAT has expired the session', async () => {
    const { sink, series } = await setup();
    await sink.healthcheck(AbortSignal.timeout(5_000));
    xnat.expireSessions();
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    expect(xnat.requests.filter((r) => r.path === '/data/JSESSION' && r.method === 'POST')).toHaveLength(2);
  });

  it('holds the series (retry, circuit opens) when the credentials are refused, and says so at the healthcheck', async () => {
    const { sink, series } = await setup();
    xnat.setPassword('gw', 'rotated');
    const d = await sink.deliver(series, job());
    expect(d).toMatchObject({ outcome: 'retry', code: ErrorCode.XNAT_AUTH, sinkFault: 'auth' });
    expect(d.outcome === 'retry' && d.reason).toMatch(/refused the credentials of user "gw" \(HTTP 401\)/);
    expect(imports()).toBe(0);
    await expect(sink.healthcheck(AbortSignal.timeout(5_000))).rejects.toMatchObject({ code: ErrorCode.XNAT_AUTH });
  });

  it('refuses before sending when the project is missing or not writable (never Unassigned)', async () => {
    const { sink, series } = await setup(
      {},
      { projects: [{ id: 'HOSPITAL', writers: ['admin'] }, { id: 'QUARANTINE' }] },
    );
    const d = await sink.deliver(series, job());
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.XNAT_PROJECT });
    expect(d.outcome === 'rejected' && d.reason).toMatch(/HOSPITAL/);
    const other = await sink.deliver({ ...series, labels: { ...labels, project: 'NOPE' } }, job());
    expect(other).toMatchObject({ outcome: 'rejected', code: ErrorCode.XNAT_PROJECT });
    expect(imports()).toBe(0);
    expect(xnat.prearchive()).toEqual([]);
    await expect(sink.healthcheck(AbortSignal.timeout(5_000))).rejects.toMatchObject({ code: ErrorCode.XNAT_PROJECT });
  });

  it("surfaces XNAT's conflict text: same label, another StudyInstanceUID", async () => {
    const { sink, series } = await setup();
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    const other = await writeSnapshot(mkdtempSync(join(scratch, 's-')), { count: 2, labels });
    const d = await sink.deliver(other, job());
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.XNAT_CONFLICT, detail: { xnatStatus: 'CONFLICT' } });
    expect(d.outcome === 'rejected' && d.reason).toContain('Invalid modification of session UID via archive process.');
    expect(xnat.archive()[0]?.studyUid).toBe(series.studyInstanceUid);
  });

  it("adds an RT series to its CT's archived session as a scan when XNAT will not merge another session type", async () => {
    const { sink, series } = await setup();
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    const rt = await writeSnapshot(mkdtempSync(join(scratch, 's-')), {
      count: 1,
      labels,
      studyInstanceUid: series.studyInstanceUid,
      modality: 'RTSTRUCT',
      seriesNumber: 9,
    });
    const d = await sink.deliver(rt, job());
    expect(d).toMatchObject({ outcome: 'delivered', detail: { xnatStatus: 'ARCHIVED', sent: 1, found: 1 } });
    expect(xnat.archive()).toHaveLength(1);
    expect(
      xnat
        .archive()[0]
        ?.scans.map((c) => [c.id, c.modality, c.files.length])
        .sort(),
    ).toEqual([
      ['3', 'CT', 5],
      ['9', 'RTSTRUCT', 1],
    ]);
    // Re-sending it (a crashed job) replaces the same files.
    expect((await sink.deliver(rt, job())).outcome).toBe('delivered');
    expect(xnat.archive()[0]?.scans.find((c) => c.id === '9')?.files).toHaveLength(1);
    // Another study of another type under the same label stays a conflict.
    const mr = await writeSnapshot(mkdtempSync(join(scratch, 's-')), { count: 1, labels, modality: 'MR' });
    const c = await sink.deliver(mr, job());
    expect(c).toMatchObject({ outcome: 'rejected', code: ErrorCode.XNAT_CONFLICT });
    expect(c.outcome === 'rejected' && c.reason).toContain('holds another StudyInstanceUID');
  });

  it('an RT-only series may open the session (the bench order): the CT and later RT objects still join it as scans', async () => {
    const { sink, series } = await setup();
    const rt = (modality: string, seriesNumber: number): Promise<SeriesSnapshot> =>
      writeSnapshot(mkdtempSync(join(scratch, 's-')), {
        count: 2,
        labels,
        studyInstanceUid: series.studyInstanceUid,
        modality,
        seriesNumber,
      });
    // A treatment record refers to a plan, not to images: nothing holds it back behind the CT.
    expect(await sink.deliver(await rt('RTRECORD', 93), job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'ARCHIVED', sent: 2, found: 2 },
    });
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'ARCHIVED', sent: 5, found: 5 },
    });
    expect(await sink.deliver(await rt('RTSTRUCT', 90), job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'ARCHIVED', sent: 2, found: 2 },
    });
    expect(xnat.archive()[0]?.scans.map((c) => [c.id, c.modality, c.files.length])).toEqual([
      ['3', 'CT', 5],
      ['90', 'RTSTRUCT', 2],
      ['93', 'RTRECORD', 2],
    ]);
    expect(xnat.prearchive()).toEqual([]);
  });

  it("a stale copy in XNAT's prearchive (an upload XNAT refused, left by an earlier version) is removed and the series sent again", async () => {
    const { sink, series } = await setup();
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    // The same series uploaded again and left behind: XNAT keeps the refused copy in CONFLICT.
    const zip = await writeZip(
      join(mkdtempSync(join(scratch, 'z-')), 'again.zip'),
      series.instances.map((i) => [basename(i.path), readFileSync(i.path)] as const),
    );
    const { project: P, subject: S, session: E } = labels;
    const stale = await fetch(
      importUrl(xnat.url, {
        'import-handler': 'DICOM-zip',
        inbody: 'true',
        PROJECT_ID: P,
        SUBJECT_ID: S,
        EXPT_LABEL: E,
        overwrite: 'append',
        dest: `/archive/projects/${P}`,
      }),
      {
        method: 'POST',
        body: readFileSync(zip),
        headers: {
          authorization: `Basic ${Buffer.from('admin:admin').toString('base64')}`,
          'content-type': 'application/zip',
        },
      },
    );
    expect([stale.status, await stale.text()]).toEqual([
      400,
      'Failed to archive 1 of 1 session(s): Session already exists with matching files, retry with overwrite=delete enabled',
    ]);
    expect(xnat.prearchive().map((r) => r.status)).toEqual(['CONFLICT']);
    // XNAT files the next series of the study into that copy and refuses it for the copy's files.
    const next = await writeSnapshot(mkdtempSync(join(scratch, 's-')), {
      count: 3,
      labels,
      studyInstanceUid: series.studyInstanceUid,
      seriesNumber: 4,
    });
    const before = imports();
    expect(await sink.deliver(next, job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'ARCHIVED', sent: 3, found: 3 },
    });
    expect(imports() - before).toBe(2);
    expect(xnat.requests.filter((r) => r.method === 'DELETE').map((r) => r.status)).toEqual([200]);
    expect(xnat.archive()[0]?.scans.map((c) => [c.id, c.files.length])).toEqual([
      ['3', 5],
      ['4', 3],
    ]);
    expect(xnat.prearchive()).toEqual([]);
  });

  it('to the prearchive: series sharing a number are found as XNAT names them (3-CT1, 3-RTSTRUCT1)', async () => {
    const { sink, series } = await setup({ dest: 'prearchive' });
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'READY', sent: 5, found: 5 },
    });
    const numberThree = (modality: string): Promise<SeriesSnapshot> =>
      writeSnapshot(mkdtempSync(join(scratch, 's-')), {
        count: 2,
        labels,
        studyInstanceUid: series.studyInstanceUid,
        modality,
        seriesNumber: 3,
      });
    expect(await sink.deliver(await numberThree('RTSTRUCT'), job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'READY', sent: 2, found: 2 },
    });
    // Two CT series under one number: the prearchive's listing (no UIDs) cannot tell them apart.
    const d = await sink.deliver(await numberThree('CT'), job());
    expect(d).toMatchObject({ outcome: 'delivered', detail: { xnatStatus: 'READY', sent: 2, found: null } });
    expect(d.outcome === 'delivered' && d.detail?.message).toContain(
      "XNAT's prearchive lists scans 3-CT1, 3-CT2 for series sharing number 3 and no UIDs",
    );
    expect(xnat.prearchive()[0]?.scans.map((c) => c.id)).toEqual(['3-CT1', '3-CT2', '3-RTSTRUCT1']);
  });

  it('retries on 500, 502, 504, dropped connections and silence; nothing is half-archived', async () => {
    const { sink, series } = await setup({ requestTimeoutMs: 1_000, uploadTimeoutMs: 1_000 });
    const faults = [
      { status: 500 },
      { status: 502 },
      { status: 504 },
      { drop: 'immediately' as const },
      { drop: 'after-body' as const },
      { delayMs: 3_000 },
    ];
    for (const f of faults) {
      xnat.inject({ method: 'POST', path: /^\/data\/services\/import$/, ...f });
      const d = await sink.deliver(series, job());
      expect(d, JSON.stringify(f)).toMatchObject({
        outcome: 'retry',
        code: ErrorCode.XNAT_UNAVAILABLE,
        sinkFault: 'unavailable',
      });
    }
    expect((await sink.deliver(series, job())).outcome).toBe('delivered');
    expect(xnat.archive()).toHaveLength(1);
    expect(xnat.archive()[0]?.scans[0]?.files).toHaveLength(5);
  });

  it('a verification lookup XNAT answers 404 means "not verified yet" (retry), never "XNAT holds 0 files"', async () => {
    const { sink, series } = await setup();
    const lookups = [/\/experiments\/[^/]+\/scans$/, /\/scans\/[^/]+\/resources$/];
    for (const path of lookups) {
      xnat.inject({ method: 'GET', path, status: 404 });
      const d = await sink.deliver(series, job());
      expect(d, String(path)).toMatchObject({
        outcome: 'retry',
        code: ErrorCode.XNAT_UNVERIFIED,
        detail: { xnatStatus: 'ARCHIVED', found: null },
      });
      expect(d.outcome === 'retry' && d.reason).toMatch(/^Not verified yet: XNAT answered 404 for /);
    }
    // The retry sends again (XNAT holds it already) and verifies: one session, five files.
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'ARCHIVED', found: 5 },
    });
    expect(xnat.archive()).toHaveLength(1);
    expect(xnat.archive()[0]?.scans[0]?.files).toHaveLength(5);
  });

  it('a prearchive listing or file lookup answered 404 is "not verified yet", and so is a lookup that cannot be made', async () => {
    const { sink, series } = await setup({ dest: 'prearchive', requestTimeoutMs: 1_000 });
    xnat.inject({ method: 'GET', path: /\/resources\/DICOM\/files$/, status: 404 });
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.XNAT_UNVERIFIED,
      detail: { xnatStatus: 'READY', found: null },
    });
    xnat.inject({ method: 'GET', path: /^\/data\/prearchive\/projects\/HOSPITAL$/, status: 404 });
    expect(await sink.deliver(series, job())).toMatchObject({ outcome: 'retry', code: ErrorCode.XNAT_UNVERIFIED });
    xnat.inject({ method: 'GET', path: /^\/data\/prearchive\/projects\/HOSPITAL$/, drop: 'immediately' });
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.XNAT_UNVERIFIED,
      sinkFault: 'unavailable',
    });
    expect(await sink.deliver(series, job())).toMatchObject({
      outcome: 'delivered',
      detail: { xnatStatus: 'READY', found: 5 },
    });
  });

  it('does not take a 200 error page for success', async () => {
    const { sink, series } = await setup();
    xnat.inject({
      method: 'POST',
      path: /^\/data\/services\/import$/,
      status: 200,
      body: '<html><body>Something went wrong</body></html>',
      contentType: 'text/html',
    });
    const d = await sink.deliver(series, job());
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.XNAT_REJECTED });
    expect(d.outcome === 'rejected' && d.reason).toContain('not a session URI (text/html): Something went wrong');
  });

  it('an aborted delivery returns retry, and the upload is abandoned', async () => {
    const { sink, series } = await setup();
    xnat.inject({ method: 'POST', path: /^\/data\/services\/import$/, delayMs: 2_000 });
    const c = new AbortController();
    setTimeout(() => {
      c.abort();
    }, 200);
    expect(await sink.deliver(series, job(c.signal))).toEqual({
      outcome: 'retry',
      reason: 'Delivery was interrupted.',
    });
  });

  it('the healthcheck passes with valid credentials and writable projects, and names an unreachable XNAT', async () => {
    const { sink } = await setup();
    await expect(sink.healthcheck(AbortSignal.timeout(5_000))).resolves.toBeUndefined();
    await xnat.close();
    await expect(sink.healthcheck(AbortSignal.timeout(5_000))).rejects.toMatchObject({
      code: ErrorCode.XNAT_UNAVAILABLE,
      message: expect.stringMatching(/is not reachable/) as string,
    });
    xnat = await startFakeXnat();
  });
});
