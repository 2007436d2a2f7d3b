// The container image as a hospital runs it, built from this checkout's Dockerfile and run with
// podman: the proof that the Dockerfile works. Base: the official node image by default; here one
// made from Debian's packages and the npm registry (docker/base-image/build.sh), as Docker Hub is
// out of reach. Run by `./gateway test-image` (and .ci/run); needs root, podman, runc, mmdebstrap.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newUid, writeSeries } from '../helpers/dicom-factory.ts';
import { outboxSeries } from '../helpers/outbox.ts';
import { describeWithPeers, freePort, run } from '../helpers/peers.ts';
import { pydicomFile } from '../helpers/pydicom-files.ts';
import { routeRules } from '../helpers/route-rules.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const id = `xg-image-test-${String(process.pid)}`;
const image = `localhost/xnat-gateway:${id}`;
const scratch = mkdtempSync(join(tmpdir(), 'xg-image-'));

/**
 * Flags podman needs in this sandbox (recorded in docs/docker.md): runc (crun's rlimit setup is
 * refused), and explicit rlimits no higher than our own hard limits (no CAP_SYS_RESOURCE here).
 */
function sandboxFlags(): string[] {
  const hard = (flag: string): string => execFileSync('bash', ['-c', `ulimit -H${flag}`], { encoding: 'utf8' }).trim();
  const cap = (v: string, max: number): string => (v === 'unlimited' ? String(max) : String(Math.min(Number(v), max)));
  const nofile = cap(hard('n'), 65536);
  const nproc = cap(hard('u'), 32768);
  return ['--runtime', 'runc', '--ulimit', `nofile=${nofile}:${nofile}`, '--ulimit', `nproc=${nproc}:${nproc}`];
}

/**
 * Build-time mounts that let `npm ci` inside the build use the host's npm registry and CA file
 * (a registry mirror, or a TLS-inspecting proxy as in this sandbox). Nothing of it enters a layer.
 */
function npmConfigMounts(): string[] {
  const get = (key: string): string => execFileSync('npm', ['config', 'get', key], { encoding: 'utf8' }).trim();
  const lines = [`registry=${get('registry')}`];
  const mounts: string[] = [];
  // npm's own cafile, or the extra CAs Node is told to trust (either is how this host reaches the registry).
  const configured = get('cafile');
  const cafile =
    configured && configured !== 'null' && configured !== 'undefined'
      ? configured
      : (process.env.NODE_EXTRA_CA_CERTS ?? '');
  if (cafile && existsSync(cafile)) {
    mounts.push('-v', `${cafile}:/usr/local/etc/host-ca.crt:ro`);
    lines.push('cafile=/usr/local/etc/host-ca.crt');
  }
  const npmrc = join(scratch, 'npmrc');
  writeFileSync(npmrc, `${lines.join('\n')}\n`);
  return [...mounts, '-v', `${npmrc}:/usr/local/etc/npmrc:ro`];
}

async function podman(args: string[], timeoutMs = 60_000): Promise<string> {
  const r = await run('podman', args, { timeoutMs });
  if (r.code !== 0) {
    throw new Error(`podman ${args.join(' ')} exited ${String(r.code)}:\n${r.stderr.slice(-4000)}`);
  }
  return r.stdout.trim();
}

describeWithPeers(['podman', 'runc', 'mmdebstrap', 'storescu'], 'the container image (podman)', () => {
  const ports = { dimse: 0, http: 0 };
  let volumeDir = '';
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    if (userInfo().uid !== 0) {
      throw new Error('The image test runs podman as root (rootless podman is not set up here).');
    }
    let t = Date.now();
    const base = await run(join(root, 'docker/base-image/build.sh'), [], { timeoutMs: 300_000 });
    if (base.code !== 0) {
      throw new Error(`docker/base-image/build.sh failed:\n${base.stderr.slice(-4000)}`);
    }
    timings.baseImageMs = Date.now() - t;
    t = Date.now();
    // The project's Dockerfile as it is; only its base image is chosen (ARG NODE_IMAGE).
    await podman(
      [
        'build',
        '--format',
        'docker',
        ...sandboxFlags().filter((f) => f !== '--runtime' && f !== 'runc'),
        ...npmConfigMounts(),
        '--build-arg',
        `NODE_IMAGE=${base.stdout.trim()}`,
        '-t',
        image,
        root,
      ],
      480_000,
    );
    timings.buildMs = Date.now() - t;
    [ports.dimse, ports.http] = [await freePort(), await freePort()];
    await podman(['volume', 'create', id]);
    volumeDir = await podman(['volume', 'inspect', '--format', '{{.Mountpoint}}', id]);
    await podman([
      'run',
      '-d',
      '--name',
      id,
      ...sandboxFlags(),
      '-v',
      `${id}:/data`,
      '-p',
      `127.0.0.1:${String(ports.dimse)}:8104`,
      '-p',
      `127.0.0.1:${String(ports.http)}:8090`,
      '-e',
      'XNAT_GATEWAY_SERIES_QUIET_MS=2000',
      image,
    ]);
  }, 600_000);

  afterAll(async () => {
    await run('podman', ['rm', '-f', '-v', '-t', '0', id]);
    await run('podman', ['volume', 'rm', '-f', id]);
    await run('podman', ['rmi', '-f', image]);
    rmSync(scratch, { recursive: true, force: true });
    console.log(`image test timings: ${JSON.stringify(timings)}`);
  });

  it('answers /readyz through the published port', async () => {
    const url = `http://127.0.0.1:${String(ports.http)}/readyz`;
    await waitFor(
      async () =>
        fetch(url).then(
          (r) => r.ok,
          () => false,
        ),
      'container ready',
      60_000,
      250,
    );
    const body = (await (await fetch(url)).json()) as { ready: boolean; receiverListening: boolean };
    expect(body).toMatchObject({ ready: true, receiverListening: true });
  });

  it('de-identifies a pydicom implicit-VR file and a generated series into its outbox', async () => {
    const implicit = await pydicomFile('MR_small_implicit.dcm');
    const seriesUid = newUid();
    const files = await writeSeries(join(scratch, 'series'), {
      count: 5,
      seriesInstanceUid: seriesUid,
      patientName: 'Doe^Jane',
      patientId: 'MRN4711',
    });
    for (const args of [[...implicit.storescuArgs, implicit.path], files]) {
      const r = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(ports.dimse), ...args]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    }
    const outbox = join(volumeDir, 'outbox');
    await waitFor(
      () => existsSync(outbox) && [...outboxSeries(outbox).values()].flat().length === 6,
      'six instances in the outbox',
      120_000,
      500,
    );
    const series = outboxSeries(outbox);
    // The generated CT goes to the hospital project; the implicit-VR MR is read (not quarantined as
    // "unreadable", as when dcmjs was missing) and quarantined for what it is: a secondary capture.
    const layout = [...series.entries()].map(([k, l]) => `${k.split('/')[0] ?? ''}:${String(l.length)}`).sort();
    expect(layout).toEqual(['HOSPITAL:5', 'QUARANTINE:1']);
    const fired = (await routeRules(ports.http)).flat();
    expect(fired).toContain('builtin:image-type');
    expect(fired).not.toContain('builtin:unreadable');
    const check = await run(process.env.PYTHON ?? '/usr/bin/python3', [
      '-c',
      `
import sys, pydicom
for p in sys.argv[1:]:
    ds = pydicom.dcmread(p)
    assert str(ds.PatientName) not in ('Doe^Jane', 'CompressedSamples^MR1'), p
    assert ds.PatientID != 'MRN4711', p
    assert ds.SeriesInstanceUID not in (sys.argv[0], '${seriesUid}', '${implicit.seriesInstanceUid}'), p
    assert ds.PatientIdentityRemoved == 'YES', p
print('ok')`,
      ...[...series.values()].flat(),
    ]);
    expect(check.stdout.trim(), check.stderr).toBe('ok');
  });

  it('logs one JSON object per line (no other output) and nothing above info went wrong', async () => {
    const logs = await podman(['logs', id]);
    const lines = logs.split('\n').filter((l) => l.trim() !== '');
    const bad = lines.filter((l) => {
      try {
        JSON.parse(l);
        return false;
      } catch {
        return true;
      }
    });
    expect(bad).toEqual([]);
    const problems = lines.map((l) => JSON.parse(l) as { level: number; msg: string }).filter((o) => o.level >= 50);
    expect(problems).toEqual([]);
    expect(lines.some((l) => l.includes('"time":"20'))).toBe(true);
  });

  it('stops cleanly on podman stop within the grace period', async () => {
    const t0 = Date.now();
    await podman(['stop', '-t', '60', id], 90_000);
    timings.stopMs = Date.now() - t0;
    expect(timings.stopMs).toBeLessThan(30_000);
    expect(await podman(['inspect', '--format', '{{.State.ExitCode}}', id])).toBe('0');
    expect(await podman(['logs', '--tail', '3', id])).toContain('xnat-gateway stopped.');
  });

  it('leaves every file in the data volume owned by the unprivileged user (uid 10001), none world-readable', () => {
    const wrong: string[] = [];
    for (const rel of readdirSync(volumeDir, { recursive: true }) as string[]) {
      const st = statSync(join(volumeDir, rel));
      if (st.uid !== 10001 || st.gid !== 10001) {
        wrong.push(`${rel}: ${String(st.uid)}:${String(st.gid)}`);
      }
      if (st.mode & 0o007) {
        wrong.push(`${rel}: mode ${(st.mode & 0o777).toString(8)}`);
      }
    }
    expect(wrong).toEqual([]);
    expect(statSync(join(volumeDir, 'gateway.db')).mode & 0o777).toBe(0o600);
  });
});
