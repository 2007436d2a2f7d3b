// Re-verification of pulled series asks the XNAT that holds them: the REST access of the sink that
// delivered each series (an xnat-rest sink's own, an xnat-dimse sink's verifyWith), never simply
// the first xnat-rest sink. Two fake XNATs; the gateway's tables say which sink delivered what.
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, expect, it } from 'vitest';
import { composePullDeps } from '../../../src/app/compose-pull.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { createLogger } from '../../../src/log.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { encodeInstance, newUid } from '../../helpers/dicom-factory.ts';
import { curl, importUrl, writeZip } from '../../helpers/fake-xnat/curl.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

describeWithPeers(['curl'], 're-checking a pulled series in the XNAT its sink delivered it to', () => {
  const dir = mkdtempSync(join(tmpdir(), 'xg-pull-recheck-'));
  const password = join(dir, 'password');
  let a: FakeXnat;
  let b: FakeXnat;
  let db: Db | null = null;
  let n = 0;
  const study = newUid();
  const series = newUid();
  const log = createLogger('silent');

  beforeAll(async () => {
    writeFileSync(password, 'pw\n');
    chmodSync(password, 0o600);
    const users = { admin: 'admin', gw: 'pw' };
    a = await startFakeXnat({ users });
    b = await startFakeXnat({ users });
    // XNAT B holds the session with both instances of the series; XNAT A has never seen it.
    const zip = await writeZip(join(dir, 'series.zip'), [
      ['1.dcm', encodeInstance({ studyInstanceUid: study, seriesInstanceUid: series, patientId: 'S1' }).bytes],
      ['2.dcm', encodeInstance({ studyInstanceUid: study, seriesInstanceUid: series, patientId: 'S1' }).bytes],
    ]);
    const up = await curl([
      '-u',
      'admin:admin',
      '-F',
      `file=@${zip}`,
      importUrl(b.url, {
        'import-handler': 'DICOM-zip',
        dest: '/archive/projects/HOSPITAL/subjects/S1/experiments/E1',
      }),
    ]);
    expect(up.status, up.body).toBe(200);
  });
  afterAll(async () => {
    db?.close();
    await a.close();
    await b.close();
    rmSync(dir, { recursive: true, force: true });
  });
  beforeEach(() => {
    db?.close();
    const d = openDb(join(dir, `gateway-${String(++n)}.db`));
    db = d;
    d.prepare(
      "INSERT INTO series (id, study_uid, series_uid, batch, state, instance_count, first_instance_at, last_instance_at) VALUES (1, ?, ?, 1, 'delivered', 2, 0, 0)",
    ).run(study, series);
    d.prepare(
      "INSERT INTO series_routes (series_id, state, target, project, rules_hash, decided_at) VALUES (1, 'routed', 'hospital', 'HOSPITAL', 'h', 0)",
    ).run();
    d.prepare(
      "INSERT INTO pseudonym_sessions (project, study_uid, subject_label, label, seq, created_at, issuer, patient_id) VALUES ('HOSPITAL', ?, 'S1', 'E1', 1, 0, '', 'S1')",
    ).run(study);
  });

  const deliveredBy = (...sinks: string[]): void => {
    for (const sink of sinks) {
      db?.prepare(
        "INSERT INTO jobs (kind, series_id, sink, state, max_attempts, run_at, created_at, updated_at, detail) VALUES ('deliver', 1, ?, 'done', 5, 0, 0, 0, NULL)",
      ).run(sink);
    }
  };
  const rest = (x: FakeXnat, projects: string[]): Record<string, unknown> => ({
    type: 'xnat-rest',
    url: x.url,
    user: 'gw',
    passwordFile: password,
    projects,
    requestTimeoutMs: 5_000,
  });
  const recheck = (sinks: Record<string, unknown>[]) => {
    const cfg = buildConfig({ dataDir: dir, route: { hospitalProject: 'HOSPITAL' }, sinks }, {}, dir);
    if (!db) {
      throw new Error('no database');
    }
    return composePullDeps(cfg.sinks, db, log).deliveries.recheck(
      { studyInstanceUid: study, seriesInstanceUid: series, seriesNumber: '1', delivered: 2 },
      AbortSignal.timeout(10_000),
    );
  };
  /** Requests for the session's experiment (the lookups of a verification). */
  const lookups = (x: FakeXnat): number => x.requests.filter((r) => r.path.includes('/experiments/E1')).length;

  it('asks the XNAT of the xnat-rest sink that delivered the series, not the first one configured', async () => {
    deliveredBy('xnat-rest-2');
    const [beforeA, beforeB] = [lookups(a), lookups(b)];
    expect(await recheck([rest(a, ['QUARANTINE']), rest(b, ['HOSPITAL'])])).toEqual({
      found: 2,
      session: 'E1',
      uri: '/data/archive/projects/HOSPITAL/subjects/S1/experiments/E1',
    });
    expect(lookups(a) - beforeA).toBe(0);
    expect(lookups(b) - beforeB).toBeGreaterThan(0);
  });

  it("asks through an xnat-dimse sink's verifyWith: the REST access of its own XNAT", async () => {
    deliveredBy('xnat-dimse-3');
    const [beforeA, beforeB] = [lookups(a), lookups(b)];
    const dimse = {
      type: 'xnat-dimse',
      host: '127.0.0.1',
      port: 1104,
      projects: ['HOSPITAL'],
      verifyWith: 'xnat-rest-2',
    };
    expect(await recheck([rest(a, ['QUARANTINE']), rest(b, ['QUARANTINE']), dimse])).toMatchObject({ found: 2 });
    expect(lookups(a) - beforeA).toBe(0);
    expect(lookups(b) - beforeB).toBeGreaterThan(0);
  });

  it('asks every XNAT the series was delivered to, and counts what the poorest holds', async () => {
    deliveredBy('xnat-rest-1', 'xnat-rest-2');
    expect(await recheck([rest(a, ['HOSPITAL', 'QUARANTINE']), rest(b, ['HOSPITAL'])])).toMatchObject({ found: 0 });
  });

  it('cannot count in an XNAT nothing may ask (a C-STORE sink without REST access)', async () => {
    deliveredBy('xnat-dimse');
    expect(await recheck([{ type: 'xnat-dimse', host: '127.0.0.1', port: 1104 }])).toBeNull();
  });
});
