// storescu → gateway → xnat-rest → fake XNAT when things go wrong: acceptance scenarios 16, 17, 18
// and 20 of reference/xnat.md §5, check-config's healthchecks, and requeue over HTTP with curl.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { startFakeXnat, type FakeXnat, type FakeXnatOptions } from '../../helpers/fake-xnat/index.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import {
  api,
  gatewayFor,
  passwordFile,
  scratch,
  settled,
  stopAfterEach,
  storescu,
  timelines,
  type Timeline,
} from '../../helpers/xnat-e2e.ts';

const running = stopAfterEach();

let dirs = 0;
async function series(count: number, patientId: string, o: { studyUid?: string } = {}): Promise<string> {
  const dir = join(scratch, `f-${String(++dirs)}`);
  mkdirSync(dir);
  await writeSeries(dir, { count, patientId, ...(o.studyUid ? { studyInstanceUid: o.studyUid } : {}) });
  return dir;
}

async function start(
  fake: FakeXnatOptions = {},
  o: { password?: string; overrides?: Record<string, unknown> } = {},
): Promise<{ x: FakeXnat; g: TestDaemon }> {
  const xnat = (running.xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 200, ...fake }));
  const gw = (running.gw = await gatewayFor(xnat, {
    password: o.password ?? 'pw',
    ...(o.overrides ? { overrides: o.overrides } : {}),
  }));
  return { x: xnat, g: gw };
}

interface SinkStatus {
  sink: string;
  circuit: { state: string; lastCode: string | null; lastError: string | null } | null;
}
const circuit = async (g: TestDaemon): Promise<SinkStatus['circuit']> =>
  (await api<{ sinks: SinkStatus[] }>(g, '/status')).sinks.find((s) => s.sink === 'xnat-rest')?.circuit ?? null;
const jobOf = (t: Timeline | undefined) => t?.jobs[0];

describeWithPeers(['storescu', 'curl'], 'delivery to XNAT by REST import, failures', () => {
  it('16. a project the gateway may not write to: refused before sending, never in Unassigned, data kept', async () => {
    const { x, g } = await start({ projects: [{ id: 'HOSPITAL', writers: ['admin'] }, { id: 'QUARANTINE' }] });
    await storescu(g, await series(4, 'PAT016'));
    const [t] = await settled(g, 1);
    expect(t?.state).toBe('failed');
    expect(jobOf(t)).toMatchObject({ state: 'dead', lastCode: 'ERR_XNAT_PROJECT' });
    // XNAT hides a project the user may not read (404), so it reads as missing.
    expect(jobOf(t)?.lastError).toMatch(
      /^Project HOSPITAL does not exist in XNAT at http:\/\/127\.0\.0\.1:\d+, or user "gw" cannot see it\.$/,
    );
    expect(x.requests.filter((r) => r.path === '/data/services/import')).toEqual([]);
    expect(x.prearchive()).toEqual([]);
    expect(x.archive()).toEqual([]);
  });

  it('17. wrong password: held with the circuit open, then delivered once the secret file is fixed; an expired session logs in again', async () => {
    const { x, g } = await start({}, { password: 'wrong' });
    await storescu(g, await series(3, 'PAT017'));
    await waitFor(
      async () => (await circuit(g))?.lastCode === 'ERR_XNAT_AUTH',
      'the circuit opens on refused credentials',
    );
    const held = await timelines(g);
    expect(jobOf(held[0])).toMatchObject({ state: 'queued', lastCode: 'ERR_XNAT_AUTH' });
    expect(x.archive()).toEqual([]);
    // The password file is read again at each login: no restart.
    const file =
      g.daemon.config.sinks[0] && 'passwordFile' in g.daemon.config.sinks[0]
        ? (g.daemon.config.sinks[0].passwordFile ?? '')
        : '';
    writeFileSync(file, 'pw\n');
    const [t] = await settled(g, 1);
    expect(t?.state).toBe('delivered');
    expect(await circuit(g)).toMatchObject({ state: 'closed' });
    x.expireSessions();
    await storescu(g, await series(2, 'PAT017B'));
    await settled(g, 2);
    expect(x.archive()).toHaveLength(2);
    expect(
      x.requests.filter((r) => r.path === '/data/JSESSION' && r.method === 'POST' && r.status === 200).length,
    ).toBeGreaterThanOrEqual(2);
  });

  it('18. XNAT failing (500, 502, 504, dropped connections, silence): retried, circuit opens and closes, no duplicates', async () => {
    const { x, g } = await start();
    for (const f of [
      { status: 500 },
      { status: 502 },
      { status: 504 },
      { drop: 'immediately' as const },
      { drop: 'after-body' as const },
    ]) {
      x.inject({ method: 'POST', path: /^\/data\/services\/import$/, ...f });
    }
    await storescu(g, await series(5, 'PAT018'));
    await waitFor(
      async () => (await circuit(g))?.state !== 'closed',
      'the circuit opens after three failures in a row',
    );
    const [t] = await settled(g, 1, 30_000);
    expect(t?.state).toBe('delivered');
    expect(x.archive()).toHaveLength(1);
    expect(x.archive()[0]?.scans[0]?.files).toHaveLength(5);
    expect(x.requests.filter((r) => r.path === '/data/services/import').length).toBe(6);
    expect(await circuit(g)).toMatchObject({ state: 'closed' });
  });

  it("20. same label, another StudyInstanceUID: XNAT's conflict kept, data held, requeue needs the admin token", async () => {
    const tokens = join(scratch, `tokens-${String(++dirs)}`);
    writeFileSync(tokens, 'alice:s3cret\n', { mode: 0o600 });
    const { x, g } = await start(
      {},
      { overrides: { anonymise: { profile: 'none' }, http: { adminTokenFile: tokens } } },
    );
    // XNAT already holds session PAT020 from elsewhere: another gateway, with a ledger of its own,
    // filed a study of PAT020 there. (One gateway gives a second study its own label, PAT020_2.)
    const other = await gatewayFor(x, { password: 'pw', overrides: { anonymise: { profile: 'none' } } });
    try {
      await storescu(other, await series(3, 'PAT020'));
      await settled(other, 1);
    } finally {
      await other.stop();
    }
    // profile none: the first study of PAT020 this gateway sees is labelled PAT020 and collides.
    await storescu(g, await series(2, 'PAT020'));
    const all = await settled(g, 1);
    const failed = all.find((t) => t.state === 'failed');
    expect(jobOf(failed)).toMatchObject({
      state: 'dead',
      lastCode: 'ERR_XNAT_CONFLICT',
      detail: { xnatStatus: 'CONFLICT' },
    });
    expect(jobOf(failed)?.lastError).toContain('Invalid modification of session UID via archive process.');
    expect(x.archive()).toHaveLength(1);
    expect(x.archive()[0]?.scans[0]?.files).toHaveLength(3);

    const id = String(jobOf(failed)?.id);
    const url = `http://127.0.0.1:${String(g.httpPort)}/jobs/${id}/requeue`;
    const noToken = await run('curl', ['-s', '-o', '/dev/null', '-w', '%{http_code}', '-X', 'POST', url]);
    expect(noToken.stdout).toBe('401');
    const ok = await run('curl', ['-s', '-X', 'POST', '-H', 'Authorization: Bearer s3cret', url]);
    expect(JSON.parse(ok.stdout)).toMatchObject({ id: Number(id), state: 'queued', attempts: 0 });
    await waitFor(async () => {
      const again = (await api<{ jobs: { id: number; attempts: number }[] }>(g, '/jobs?state=dead')).jobs;
      return again.length === 1 && again[0]?.id === Number(id) && again[0].attempts === 1;
    }, 'the requeued job ran again and was refused again');
    // Still a conflict (nothing changed in XNAT), still held, never a second session.
    expect(x.archive()).toHaveLength(1);
  });

  it("check-config runs each sink's healthcheck against XNAT and names the problem", async () => {
    const xnat = (running.xnat = await startFakeXnat({
      users: { admin: 'admin', gw: 'pw' },
      projects: [{ id: 'HOSPITAL' }],
    }));
    const root = new URL('../../../', import.meta.url).pathname;
    const env = {
      XNAT_GATEWAY_XNAT_URL: xnat.url,
      XNAT_GATEWAY_XNAT_USER: 'gw',
      XNAT_GATEWAY_XNAT_PASSWORD_FILE: passwordFile('pw'),
      XNAT_GATEWAY_DATA_DIR: join(scratch, `cc-${String(++dirs)}`),
    };
    const missing = await run(process.execPath, [join(root, 'src/cli/main.ts'), 'check-config'], { env, cwd: root });
    expect(missing.code).toBe(78);
    expect(missing.stderr).toMatch(
      /sink xnat-rest: Project QUARANTINE does not exist in XNAT at http:\/\/127\.0\.0\.1:\d+/,
    );
    const wrong = await run(process.execPath, [join(root, 'src/cli/main.ts'), 'check-config'], {
      env: { ...env, XNAT_GATEWAY_XNAT_PASSWORD_FILE: passwordFile('nope') },
      cwd: root,
    });
    expect(wrong.stderr).toMatch(
      /sink xnat-rest: XNAT at http:\/\/127\.0\.0\.1:\d+ refused the credentials of user "gw" \(HTTP 401\)/,
    );
    await xnat.close();
    const healthy = (running.xnat = await startFakeXnat({ users: { gw: 'pw' } }));
    const good = await run(process.execPath, [join(root, 'src/cli/main.ts'), 'check-config'], {
      env: { ...env, XNAT_GATEWAY_XNAT_URL: healthy.url },
      cwd: root,
    });
    expect(good.stdout + good.stderr).toContain('every sink answered its healthcheck');
    expect(good.code).toBe(0);
  });
});
