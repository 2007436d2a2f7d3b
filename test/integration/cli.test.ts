// The CLI as an operator uses it: config errors (exit 78), graceful SIGTERM, dead jobs and requeue.
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import Database from 'better-sqlite3';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { writeSeries } from '../helpers/dicom-factory.ts';
import { describeWithPeers, freePort, run } from '../helpers/peers.ts';
import { spawnDaemon } from '../helpers/spawned-daemon.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = new URL('../../', import.meta.url).pathname;
const cli = (args: string[], env: Record<string, string> = {}): ReturnType<typeof run> =>
  run(process.execPath, [join(root, 'src/cli/main.ts'), ...args], { env, cwd: root });
const scratch = mkdtempSync(join(tmpdir(), 'xg-cli-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('xnat-gateway CLI', () => {
  it('refuses an invalid config with every problem listed by key and exit code 78', async () => {
    const file = join(scratch, 'bad.yaml');
    writeFileSync(
      file,
      'dimse:\n  port: 70000\n  aeTitle: "THIS AE TITLE IS WAY TOO LONG"\n  colour: blue\nseries:\n  quietPeriodMs: -5\n',
    );
    const r = await cli(['run', '--config', file]);
    expect(r.code).toBe(78);
    for (const key of ['dimse.port', 'dimse.aeTitle', 'dimse', 'series.quietPeriodMs']) {
      expect(r.stderr).toContain(key);
    }
    expect(r.stderr).toMatch(/colour/);
  });

  it('names the environment variable that holds a bad value', async () => {
    const r = await cli(['check-config'], { XNAT_GATEWAY_DIMSE_PORT: 'eighty', XNAT_GATEWAY_SERIES_QUIET_MS: '-1' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('dimse.port (from XNAT_GATEWAY_DIMSE_PORT');
    expect(r.stderr).toContain('series.quietPeriodMs (from XNAT_GATEWAY_SERIES_QUIET_MS');
  });

  it('reports an unreadable config file and a YAML syntax error with its line', async () => {
    expect((await cli(['check-config', '--config', join(scratch, 'missing.yaml')])).stderr).toMatch(
      /missing\.yaml: cannot be read/,
    );
    const file = join(scratch, 'syntax.yaml');
    writeFileSync(file, 'dimse:\n  port: [8104\n');
    const r = await cli(['check-config', '--config', file]);
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/syntax\.yaml line \d+/);
  });

  it('exits 2 on unknown commands', async () => {
    expect((await cli(['frobnicate'])).code).toBe(2);
  });

  it('refuses a processed or rejected folder inside the import folder (it would be imported again)', async () => {
    const r = await cli(['check-config'], {
      XNAT_GATEWAY_DATA_DIR: join(scratch, 'd0'),
      XNAT_GATEWAY_IMPORT_DIR: join(scratch, 'd0'),
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toMatch(/dataDir: .* is inside the import folder folder\.path/);
    expect(r.stderr).toMatch(/folder\.processedDir: .* is inside the import folder/);
  });

  it('import DIR: ingests once, leaves the folder in place, lists rejects with exit 65; a re-run adds nothing', async () => {
    const dir = join(scratch, 'to-import');
    await writeSeries(join(dir, 'series a'), { count: 5 });
    writeFileSync(join(dir, 'report.pdf'), '%PDF-1.4 not an image');
    const env = { XNAT_GATEWAY_DATA_DIR: join(scratch, 'import-data') };
    const first = await cli(['import', dir], env);
    expect(first.code, first.stderr).toBe(65);
    expect(first.stdout).toContain('6 files, 5 instances spooled, 0 ignored, 1 rejected');
    expect(first.stderr).toMatch(/rejected report\.pdf: not DICOM.*ERR_FOLDER_NOT_DICOM/);
    // Listed once (not also as a log line), and nothing on stderr is a JSON log line.
    expect(first.stderr.match(/report\.pdf/g)).toHaveLength(1);
    expect(first.stderr).not.toMatch(/^\{/m);
    expect(readdirSync(join(dir, 'series a'))).toHaveLength(5);
    expect(readdirSync(dir).sort()).toEqual(['report.pdf', 'series a']);
    const db = new Database(join(scratch, 'import-data', 'gateway.db'), { readonly: true });
    try {
      expect(db.prepare(`SELECT count(*) FROM instances WHERE source = 'folder'`).pluck().get()).toBe(5);
      // Finished imports leave no association open: the daemon can complete the series.
      expect(db.prepare('SELECT count(*) FROM associations WHERE closed_at IS NULL').pluck().get()).toBe(0);
    } finally {
      db.close();
    }
    const again = await cli(['import', dir], env);
    expect(again.code).toBe(65);
    const db2 = new Database(join(scratch, 'import-data', 'gateway.db'), { readonly: true });
    try {
      expect(db2.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(5);
    } finally {
      db2.close();
    }
    rmSync(join(dir, 'report.pdf'));
    const clean = await cli(['import', dir], env);
    expect(clean.code, clean.stderr).toBe(0);
    expect((await cli(['import', join(scratch, 'nope')], env)).code).toBe(66);
  });
});

describeWithPeers(['storescu'], 'operating the daemon', () => {
  it('stops cleanly on SIGTERM, keeps a dead job with its reason, and delivers it after requeue', async () => {
    const dataDir = join(scratch, 'ops');
    const blocker = join(scratch, 'not-a-directory');
    writeFileSync(blocker, 'the folder sink cannot write below a regular file');
    const [dimsePort, httpPort] = [await freePort(), await freePort()];
    const config = join(scratch, 'ops.yaml');
    writeFileSync(
      config,
      [
        `dataDir: ${dataDir}`,
        `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`,
        `http: { port: ${String(httpPort)} }`,
        'series: { quietPeriodMs: 200, checkIntervalMs: 50 }',
        'workers: { maxAttempts: 2, backoffBaseMs: 50, backoffMaxMs: 100, pollIntervalMs: 50 }',
        'spool: { minFreeBytes: 0 }',
        `sinks: [{ type: folder, path: ${join(blocker, 'outbox')} }]`,
        '',
      ].join('\n'),
    );
    const api = async <T>(path: string): Promise<T> =>
      (await (await fetch(`http://127.0.0.1:${String(httpPort)}${path}`)).json()) as T;
    let daemon = spawnDaemon(config);
    await waitFor(
      async () =>
        fetch(`http://127.0.0.1:${String(httpPort)}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      'daemon up',
      20_000,
    );
    const files = await writeSeries(join(scratch, 'ops-series'), { count: 3 });
    expect((await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...files])).code).toBe(0);
    await waitFor(
      async () => (await api<{ items: { state: string }[] }>('/series?state=failed')).items.length === 1,
      'series failed after its attempts',
      20_000,
    );
    const [failed] = (await api<{ items: { id: number }[] }>('/series?state=failed')).items;
    const timeline = await api<{ jobs: { id: number; state: string; lastError: string; attempts: unknown[] }[] }>(
      `/series/${String(failed?.id)}`,
    );
    expect(timeline.jobs[0]).toMatchObject({ state: 'dead' });
    expect(timeline.jobs[0]?.attempts).toHaveLength(2);
    expect(timeline.jobs[0]?.lastError).toMatch(/ENOTDIR|not a directory|EEXIST/i);

    const t0 = Date.now();
    expect(await daemon.stop('SIGTERM')).toBe(0);
    expect(Date.now() - t0).toBeLessThan(10_000);
    expect(daemon.output()).toContain('xnat-gateway stopped.');

    rmSync(blocker);
    const jobId = String(timeline.jobs[0]?.id);
    const listed = await cli(['queue', 'ls', '--state', 'dead', '--config', config]);
    expect(listed.stdout).toMatch(new RegExp(`^${jobId}\\t`, 'm'));
    const requeued = await cli(['queue', 'requeue', jobId, '--config', config]);
    expect(requeued.code, requeued.stderr).toBe(0);
    daemon = spawnDaemon(config);
    await waitFor(
      async () =>
        fetch(`http://127.0.0.1:${String(httpPort)}/healthz`).then(
          (r) => r.ok,
          () => false,
        ),
      'daemon up again',
      20_000,
    );
    await waitFor(
      async () => (await api<{ items: unknown[] }>('/series?state=delivered')).items.length === 1,
      'delivered after requeue',
      20_000,
    );
    expect(await daemon.stop('SIGTERM')).toBe(0);
  });
});
