// storescu → gateway → anonymise → folder sink, for each pseudonym mode and for profile none,
// checked with pydicom (never our parser) and through the status API and the CLI.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { dicomStrings, pydicomAvailable } from '../../helpers/deid-oracles.ts';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { outboxSeries } from '../../helpers/outbox.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const exec = promisify(execFile);
const GATEWAY = new URL('../../../gateway', import.meta.url).pathname;
const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];
const scratch = mkdtempSync(join(tmpdir(), 'xg-anon-e2e-'));

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describeWithPeers(
  ['storescu'],
  'anonymise in the daemon',
  () => {
    let gw: TestDaemon | null = null;
    afterEach(async () => {
      await gw?.stop();
      gw = null;
    });
    const send = async (g: TestDaemon, dir: string): Promise<void> => {
      const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(g.dimsePort), dir]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
    };
    const fast = { series: { quietPeriodMs: 300, checkIntervalMs: 50 } };
    const values = async (file: string): Promise<Map<string, string>> => {
      const [f] = await dicomStrings([file]);
      return new Map((f?.strings ?? []).filter((s) => !s.path.includes('.')).map((s) => [s.tag, s.value]));
    };

    it('delivers a de-identified series filed under its XNAT labels, and records the key id in the audit', async () => {
      const g = await startTestDaemon({ ...fast, route: { hospitalProject: 'KCL' } });
      gw = g;
      const dir = join(scratch, 'auto');
      await writeSeries(dir, { count: 5, patientName: 'Smith^Anna', patientId: 'MRN777', accessionNumber: 'ACC42' });
      await send(g, dir);
      // The folder sink renames file by file: wait for the whole series, not for its folder.
      await waitFor(
        () => [...outboxSeries(join(g.dataDir, 'outbox')).values()].some((f) => f.length === 5),
        'series delivered',
        30_000,
      );
      const [[folder, files] = ['', []]] = [...outboxSeries(join(g.dataDir, 'outbox'))];
      expect(folder).toMatch(/^KCL\/KCL_000001\/KCL_000001_01\/2\.25\.\d+$/);
      expect(files).toHaveLength(5);
      const v = await values(files[0] ?? '');
      expect(v.get('(0010,0010)')).toBe('KCL_000001');
      expect(v.get('(0010,0020)')).toBe('KCL_000001_01');
      expect(v.get('(0010,4000)')).toBe('Project: KCL Subject: KCL_000001 Session: KCL_000001_01');
      expect(v.get('(0012,0062)')).toBe('YES');
      expect([...v.values()].join('|')).not.toMatch(/Smith|MRN777|ACC42/);
      const audit = g.daemon.db
        .prepare(`SELECT detail FROM events WHERE kind = 'series.anonymised'`)
        .pluck()
        .all() as string[];
      expect(audit).toHaveLength(1);
      expect(JSON.parse(audit[0] ?? '{}')).toMatchObject({
        project: 'KCL',
        profile: 'basic',
        instances: 5,
        edition: '2024b',
      });
      expect((JSON.parse(audit[0] ?? '{}') as { keyId?: string }).keyId).toMatch(/^[0-9a-f]{16}$/);
    });

    it('holds a patient missing from the lookup table, then delivers after the table is imported and the job requeued', async () => {
      const g = await startTestDaemon({
        ...fast,
        route: { hospitalProject: 'KCL' },
        anonymise: { pseudonyms: { mode: 'lookup' } },
      });
      gw = g;
      const dir = join(scratch, 'lookup');
      await writeSeries(dir, { count: 3, patientName: 'Jones^Bob', patientId: 'MRN123' });
      await send(g, dir);
      const job = (): { id: number; state: string; last_code: string | null; last_error: string | null } | undefined =>
        g.daemon.db.prepare('SELECT id, state, last_code, last_error FROM jobs').get() as never;
      await waitFor(() => job()?.state === 'dead', 'job held', 30_000);
      expect(job()?.last_code).toBe('ERR_ANON_HELD');
      expect(job()?.last_error).toMatch(/not in the pseudonym lookup table of project KCL/);
      expect(job()?.last_error).not.toContain('MRN123');
      expect(outboxSeries(join(g.dataDir, 'outbox')).size).toBe(0);
      const csv = join(scratch, 'lookup.csv');
      writeFileSync(csv, 'patient_id,subject\r\nMRN123,KCL_TRIAL_07\r\n');
      const env = { ...process.env, XNAT_GATEWAY_DATA_DIR: g.dataDir };
      await exec(GATEWAY, ['node', MAIN, 'pseudonyms', 'import', csv, '--project', 'KCL'], { env });
      await exec(GATEWAY, ['node', MAIN, 'queue', 'requeue', String(job()?.id)], { env });
      await waitFor(() => outboxSeries(join(g.dataDir, 'outbox')).size === 1, 'series delivered after requeue', 30_000);
      expect([...outboxSeries(join(g.dataDir, 'outbox')).keys()][0]).toMatch(/^KCL\/KCL_TRIAL_07\/KCL_TRIAL_07_01\//);
    });

    /** GET /series/:id from the running daemon's status server. */
    const seriesView = async (
      g: TestDaemon,
      id: number,
    ): Promise<{
      route: { target: string; reasons: { rule: string; message: string }[] } | null;
      jobs: { state: string; lastCode: string | null; lastError: string | null }[];
    }> => {
      const res = await fetch(`http://127.0.0.1:${String(g.httpPort)}/series/${String(id)}`);
      return (await res.json()) as never;
    };
    const seriesIds = (g: TestDaemon): number[] =>
      g.daemon.db.prepare('SELECT id FROM series ORDER BY id').pluck().all() as number[];

    it('never merges on a conflicting or absent key: the router quarantines, anonymise holds, /series/:id says why', async () => {
      const g = await startTestDaemon({ ...fast, route: { hospitalProject: 'KCL' } });
      gw = g;
      const study = newUid();
      await writeSeries(join(scratch, 'k1'), { count: 2, patientId: 'MRN-K1', studyInstanceUid: study });
      await send(g, join(scratch, 'k1'));
      await waitFor(() => outboxSeries(join(g.dataDir, 'outbox')).size === 1, 'first patient delivered', 30_000);
      // The same StudyInstanceUID under another patient: quarantined, not filed into the first session.
      await writeSeries(join(scratch, 'k2'), { count: 2, patientId: 'MRN-K2', studyInstanceUid: study });
      await send(g, join(scratch, 'k2'));
      // No PatientID at all: quarantined by the built-in rule, and its de-identification held.
      await writeSeries(join(scratch, 'k3'), { count: 2, patientId: '' });
      await send(g, join(scratch, 'k3'));
      await waitFor(() => seriesIds(g).length === 3, 'three series', 30_000);
      const [, second = 0, third = 0] = seriesIds(g);
      await waitFor(
        async () => (await seriesView(g, second)).route?.target === 'quarantine',
        'second series quarantined',
        30_000,
      );
      const conflict = await seriesView(g, second);
      expect(conflict.route?.reasons.map((r) => r.rule)).toEqual(['builtin:study-of-another-patient']);
      expect(conflict.route?.reasons[0]?.message).toMatch(
        /session KCL_000001_01 of subject KCL_000001, a different patient/,
      );
      await waitFor(
        async () => (await seriesView(g, third)).jobs.some((j) => j.state === 'dead'),
        'third series held',
        30_000,
      );
      const missing = await seriesView(g, third);
      expect(missing.route?.reasons.map((r) => r.rule)).toContain('builtin:missing-identifier');
      expect(missing.jobs[0]).toMatchObject({
        state: 'dead',
        lastCode: 'ERR_ANON_IDENTITY',
        lastError: expect.stringContaining('PatientID is missing or empty') as string,
      });
      expect(JSON.stringify([conflict, missing])).not.toContain('MRN-K');
      // Nothing of the second patient went into the first one's session.
      expect([...outboxSeries(join(g.dataDir, 'outbox')).keys()].filter((k) => k.startsWith('KCL/'))).toHaveLength(1);
    });

    it('with profile none gives a second study of the same patient its own session label (XNAT refuses a reused one)', async () => {
      const g = await startTestDaemon({
        ...fast,
        route: { hospitalProject: 'INTERNAL' },
        anonymise: { profile: 'none' },
      });
      gw = g;
      for (const [i, study] of [newUid(), newUid()].entries()) {
        await writeSeries(join(scratch, `none-${String(i)}`), {
          count: 1,
          patientName: 'Smith^Anna',
          patientId: 'MRN 777/b',
          studyInstanceUid: study,
        });
        await send(g, join(scratch, `none-${String(i)}`));
        await waitFor(
          () => outboxSeries(join(g.dataDir, 'outbox')).size === i + 1,
          `study ${String(i + 1)} delivered`,
          30_000,
        );
      }
      const sessions = [...outboxSeries(join(g.dataDir, 'outbox')).keys()]
        .map((k) => k.split('/').slice(0, 3).join('/'))
        .sort();
      expect(sessions).toEqual(['INTERNAL/Smith_Anna/MRN_777_b', 'INTERNAL/Smith_Anna/MRN_777_b_2']);
    });

    it('with profile none forwards the instances unchanged except PatientComments, labelled DASHER-style', async () => {
      const g = await startTestDaemon({
        ...fast,
        route: { hospitalProject: 'INTERNAL' },
        anonymise: { profile: 'none' },
      });
      gw = g;
      const dir = join(scratch, 'none');
      const sent = await writeSeries(dir, {
        count: 2,
        patientName: 'Smith^Anna',
        patientId: 'MRN 777/b',
        studyInstanceUid: newUid(),
      });
      await send(g, dir);
      await waitFor(() => outboxSeries(join(g.dataDir, 'outbox')).size === 1, 'series delivered', 30_000);
      const [[folder, files] = ['', []]] = [...outboxSeries(join(g.dataDir, 'outbox'))];
      expect(folder.split('/').slice(0, 3)).toEqual(['INTERNAL', 'Smith_Anna', 'MRN_777_b']);
      const before = await values(sent[0] ?? '');
      const after = await values(files.find((f) => f.endsWith(`${before.get('(0008,0018)') ?? ''}.dcm`)) ?? '');
      expect(after.get('(0010,4000)')).toBe('Project: INTERNAL Subject: Smith_Anna Session: MRN_777_b');
      after.delete('(0010,4000)');
      before.delete('(0010,4000)');
      expect(after).toEqual(before);
    });
  },
  pydicomMissing,
);
