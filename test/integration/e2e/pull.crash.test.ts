// `xnat-gateway pull FILE --pacs NAME --wait` against the real daemon (spawned), Orthanc as the
// PACS (C-MOVE into the gateway's receiver) and the fake XNAT: the exit codes an operator meets,
// and a SIGKILL of the daemon mid-pull: restarted, the pull resumes, the waiting command follows it
// to the end, every row ends verified, and no study complete before the kill is fetched again.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it, onTestFailed } from 'vitest';
import { parseCsv } from '../../../src/csv.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { writeStudies } from '../../helpers/pacs.ts';
import { describeWithPeers, freePort, run, spawnLogged } from '../../helpers/peers.ts';
import { spawnDaemon, type WatchedProcess } from '../../helpers/spawned-daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const root = new URL('../../../', import.meta.url).pathname;
const MAIN = join(root, 'src/cli/main.ts');
const STUDIES = 10;

describeWithPeers(['Orthanc'], 'xnat-gateway pull against the running daemon', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-pull-cli-'));
  const dataDir = join(scratch, 'data');
  const configFile = join(scratch, 'gateway.yaml');
  let orthanc: OrthancHandle;
  let xnat: FakeXnat;
  let daemon: WatchedProcess | null = null;
  let killed: WatchedProcess | null = null;
  let httpPort = 0;

  const cli = (args: string[], timeoutMs = 180_000): ReturnType<typeof run> =>
    run(process.execPath, [MAIN, ...args, '--config', configFile], { cwd: scratch, timeoutMs });
  const waitReady = (): Promise<void> =>
    waitFor(
      async () =>
        fetch(`http://127.0.0.1:${String(httpPort)}/readyz`).then(
          (r) => r.ok,
          () => false,
        ),
      'daemon ready',
      30_000,
    ).catch((err: unknown) => {
      // Say why: the daemon's own last words (a port taken, a start-up step that hangs).
      throw new Error(`${String(err)}; the daemon's output ends with: ${daemon?.output().slice(-3000) ?? '(none)'}`);
    });
  const db = (): Database.Database => new Database(join(dataDir, 'gateway.db'), { readonly: true });
  /** What a failed run leaves to read in CI's output: the ledger, the series batches, their jobs and the daemon's last log lines. */
  const diagnose = (): void => {
    const d = db();
    try {
      const q = (sql: string): unknown[] => d.prepare(sql).all();
      // Warnings and errors of both daemons (the killed one and its successor), then the last lines.
      const show = (l: Record<string, unknown>): string =>
        JSON.stringify({ ...l, pid: undefined, hostname: undefined }).slice(0, 400);
      const notable = (p: WatchedProcess | null): string[] =>
        (p?.lines() ?? []).filter((l) => typeof l.level === 'number' && l.level >= 40).map(show);
      const lines = [
        ...notable(killed),
        '--- restarted ---',
        ...notable(daemon),
        '--- last lines ---',
        ...(daemon?.lines() ?? []).slice(-60).map(show),
      ];
      console.error(
        [
          'pull.crash diagnostics',
          `pulls: ${JSON.stringify(q('SELECT id, state, pause_reason FROM pulls'))}`,
          `rows: ${JSON.stringify(q('SELECT id, pull_id, line, state, reason, attempts, expected_instances, received_instances, next_attempt_at FROM pull_rows'))}`,
          `pull_series: ${JSON.stringify(q('SELECT row_id, number, expected, received, delivered, verified FROM pull_series'))}`,
          `series: ${JSON.stringify(q('SELECT id, series_uid, batch, state, instance_count FROM series'))}`,
          `jobs: ${JSON.stringify(q('SELECT id, series_id, kind, sink, state, attempts, last_code, detail FROM jobs'))}`,
          `events: ${JSON.stringify(q('SELECT row_id, kind, detail FROM pull_events ORDER BY id').slice(-60))}`,
          `now: ${String(Date.now())}`,
          `xnat archive: ${JSON.stringify(xnat.archive().map((a) => ({ label: a.label, scans: a.scans.map((c) => [c.id, c.files.length]) })))}`,
          `xnat prearchive: ${JSON.stringify(xnat.prearchive().map((r) => ({ label: r.label, folder: r.folderName, status: r.status, message: r.message ?? null, scans: r.scans.map((c) => [c.id, c.files.length]) })))}`,
          `xnat requests (last 60): ${JSON.stringify(xnat.requests.slice(-60))}`,
          'daemon log (warnings and errors, then the last 60 lines):',
          ...lines,
        ].join('\n'),
      );
    } catch (err) {
      console.error(`pull.crash diagnostics failed: ${String(err)}`);
    } finally {
      d.close();
    }
  };

  beforeAll(async () => {
    const specs = Array.from({ length: STUDIES }, (_, i) => ({
      accessionNumber: `K${String(i + 1).padStart(3, '0')}`,
      patientId: `KP${String(i + 1)}`,
      series: [15, 15],
    }));
    const studies = await writeStudies(join(scratch, 'studies'), specs);
    const dimsePort = await freePort();
    httpPort = await freePort();
    orthanc = await startOrthanc({ modalities: { gateway: ['XNAT', '127.0.0.1', dimsePort] } });
    for (const f of studies.flatMap((s) => s.files)) {
      await orthanc.upload(f);
    }
    xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 200 });
    const secret = join(scratch, 'xnat-password');
    writeFileSync(secret, 'pw\n');
    chmodSync(secret, 0o600);
    writeFileSync(
      configFile,
      [
        `dataDir: ${dataDir}`,
        `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`,
        `http: { port: ${String(httpPort)} }`,
        'series: { quietPeriodMs: 300, checkIntervalMs: 50 }',
        'workers: { pollIntervalMs: 50, backoffBaseMs: 100, backoffMaxMs: 400 }',
        'spool: { minFreeBytes: 0 }',
        'route: { hospitalProject: HOSPITAL }',
        `sinks: [{ type: xnat-rest, url: "${xnat.url}", user: gw, passwordFile: ${secret} }]`,
        `pacs: [{ name: orthanc, aeTitle: ORTHANC, host: 127.0.0.1, port: ${String(orthanc.dicomPort)}, callingAe: XNAT, schedule: { windows: [{ maxAssociations: 1, maxStudiesInFlight: 1, utilisationPercent: 50 }] } }]`,
        'pull: { backoffBaseMs: 200, backoffMaxMs: 500, arrivalTimeoutMs: 5000, arrivalPollMs: 100, verifyIntervalMs: 1000 }',
        '',
      ].join('\n'),
    );
    writeFileSync(join(scratch, 'all.csv'), ['AccessionNumber', ...specs.map((s) => s.accessionNumber)].join('\n'));
    writeFileSync(join(scratch, 'one-bad.csv'), 'AccessionNumber\nK001\nNOPE\n');
    writeFileSync(join(scratch, 'no-columns.csv'), 'Foo,Bar\n1,2\n');
  });
  afterAll(async () => {
    await daemon?.stop();
    await xnat.close();
    await orthanc.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('exits 69 when no daemon runs, 66 for a missing file, and the --help names the exit codes', async () => {
    const none = await cli(['pull', join(scratch, 'all.csv'), '--pacs', 'orthanc']);
    expect(none.code, none.stderr).toBe(69);
    expect(none.stderr).toMatch(/No gateway answers at 127\.0\.0\.1:\d+ .*is the daemon running/);
    const missing = await cli(['pull', join(scratch, 'nope.csv'), '--pacs', 'orthanc']);
    expect(missing.code).toBe(66);
    expect(missing.stderr).toContain('nope.csv: no such file.');
    expect((await cli(['pull', join(scratch, 'all.csv')])).code).toBe(2);
  });

  describe('with the daemon running', () => {
    beforeAll(async () => {
      daemon = spawnDaemon(configFile);
      await waitReady();
    });

    it('survives a SIGKILL mid-pull: resumed after the restart, every row verified, nothing complete fetched again', async () => {
      onTestFailed(diagnose);
      const wait = spawnLogged(
        process.execPath,
        [MAIN, 'pull', join(scratch, 'all.csv'), '--pacs', 'orthanc', '--wait', '--config', configFile],
        { cwd: scratch, timeoutMs: 240_000 },
      );
      const rows = (): { line: number; state: string; id: number }[] => {
        const d = db();
        try {
          return d.prepare('SELECT line, state, id FROM pull_rows ORDER BY line').all() as {
            line: number;
            state: string;
            id: number;
          }[];
        } catch {
          // The tables are there once the daemon migrated; the list may not be recorded yet.
          return [];
        } finally {
          d.close();
        }
      };
      const done = new Set(['complete', 'delivered', 'verified']);
      await waitFor(() => rows().filter((r) => done.has(r.state)).length >= 3, 'three rows complete', 120_000, 20);
      killed = daemon;
      await daemon?.kill();
      const atKill = rows();
      const completeAtKill = atKill.filter((r) => done.has(r.state)).map((r) => r.id);
      expect(completeAtKill.length).toBeLessThan(STUDIES);

      daemon = spawnDaemon(configFile);
      await waitReady();
      const code = await wait.exited;
      expect(code, wait.output()).toBe(0);
      // The report on stdout: one line per series, every row verified.
      const report = parseCsv(
        wait
          .output()
          .split('\n')
          .filter((l) => !l.startsWith('[') && !l.startsWith('Pull ') && !l.startsWith('  '))
          .join('\n'),
      );
      expect(report.at(-1)?.fields.slice(0, 2)).toEqual([
        'total',
        `${String(STUDIES)} of ${String(STUDIES)} rows complete`,
      ]);
      expect(rows().map((r) => r.state)).toEqual(Array.from({ length: STUDIES }, () => 'verified'));
      const d = db();
      try {
        // A row complete before the kill was retrieved once; only the study in flight was asked for again.
        const starts = d
          .prepare(
            "SELECT row_id AS id, COUNT(*) AS n FROM pull_events WHERE kind = 'retrieve-started' GROUP BY row_id",
          )
          .all() as { id: number; n: number }[];
        for (const s of starts) {
          if (completeAtKill.includes(s.id)) {
            expect(s.n, `row ${String(s.id)}`).toBe(1);
          }
        }
        const arrivals = d
          .prepare("SELECT SUM(instances) FROM associations WHERE source = 'dimse'")
          .pluck()
          .get() as number;
        const distinct = d.prepare('SELECT COUNT(DISTINCT sop_instance_uid) FROM instances').pluck().get() as number;
        expect(distinct).toBe(STUDIES * 30);
        // At most the one study in flight at the kill (30 instances) arrived twice.
        expect(arrivals - distinct).toBeLessThanOrEqual(30);
      } finally {
        d.close();
      }
      // In XNAT once: one session per study, two scans of 15.
      expect(xnat.archive().map((s) => s.scans.map((c) => c.files.length))).toEqual(
        Array.from({ length: STUDIES }, () => [15, 15]),
      );
    });

    it('--wait exits 65 when a row does not end complete or verified; a list without usable columns is 65, an unknown PACS 66', async () => {
      onTestFailed(diagnose);
      const one = await cli(['pull', join(scratch, 'one-bad.csv'), '--pacs', 'orthanc', '--wait']);
      expect(one.code, one.stderr).toBe(65);
      expect(one.stderr).toContain('line 3: not-found: no study matches this accession number');
      const cols = await cli(['pull', join(scratch, 'no-columns.csv'), '--pacs', 'orthanc']);
      expect(cols.code).toBe(65);
      expect(cols.stderr).toContain('ERR_PULL_LIST');
      const pacs = await cli(['pull', join(scratch, 'all.csv'), '--pacs', 'other']);
      expect(pacs.code).toBe(66);
      expect(pacs.stderr).toContain('No PACS named other is configured (known: orthanc)');
    });
  });
});
