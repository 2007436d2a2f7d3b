import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openDb, type Db } from '../../../../src/store/sqlite/db.ts';
import { createPullProgress } from '../../../../src/store/sqlite/pull-progress.ts';

describe("what the gateway's tables say about a pulled study", () => {
  let dir: string;
  let db: Db;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-pull-progress-'));
    db = openDb(join(dir, 'gateway.db'));
  });
  afterEach(() => {
    db.close();
    rmSync(dir, { recursive: true, force: true });
  });

  function series(
    id: number,
    seriesUid: string,
    o: { batch?: number; state?: string; n: number; project?: string },
  ): void {
    db.prepare(
      'INSERT INTO series (id, study_uid, series_uid, batch, state, instance_count, first_instance_at, last_instance_at) VALUES (?, ?, ?, ?, ?, ?, 0, 0)',
    ).run(id, '1.2', seriesUid, o.batch ?? 1, o.state ?? 'receiving', o.n);
    for (let i = 0; i < o.n; i++) {
      db.prepare(
        `INSERT INTO instances (series_id, sop_instance_uid, sop_class_uid, transfer_syntax_uid, path, size, dataset_sha256, source, calling_ae, called_ae, peer_ip, received_at)
        VALUES (?, ?, '1.2.840.10008.5.1.4.1.1.2', '1.2.840.10008.1.2.1', ?, 1, 'x', 'dimse', 'PACS', 'XNAT', '127.0.0.1', 0)`,
      ).run(id, `${seriesUid}.${String(i)}`, `p${String(id)}-${String(i)}`);
    }
    if (o.project) {
      db.prepare(
        "INSERT INTO series_routes (series_id, state, target, project, rules_hash, decided_at) VALUES (?, 'routed', 'hospital', ?, 'h', 0)",
      ).run(id, o.project);
    }
  }
  function job(seriesId: number, sink: string, state: string, detail: Record<string, unknown> | null): void {
    db.prepare(
      "INSERT INTO jobs (kind, series_id, sink, state, max_attempts, run_at, created_at, updated_at, detail) VALUES ('deliver', ?, ?, ?, 5, 0, 0, 0, ?)",
    ).run(seriesId, sink, state, detail ? JSON.stringify(detail) : null);
  }

  it('counts an instance only once its file is durable (a row whose fsync still runs may vanish after a crash)', async () => {
    series(1, '1.2.1', { n: 3 });
    db.prepare("UPDATE instances SET durable = 0 WHERE sop_instance_uid = '1.2.1.2'").run();
    const p = createPullProgress(db, ['xnat-rest']);
    expect(await p.received('1.2')).toEqual(new Map([['1.2.1', 2]]));
    db.prepare('UPDATE instances SET durable = 1').run();
    expect(await p.received('1.2')).toEqual(new Map([['1.2.1', 3]]));
  });

  it('counts distinct instances per series over its batches, and maps a spool series to its study', async () => {
    series(1, '1.2.1', { n: 3 });
    series(2, '1.2.1', { n: 3, batch: 2 });
    series(3, '1.2.2', { n: 2 });
    const p = createPullProgress(db, ['xnat-rest']);
    // Batch 2 holds the same three instances again (sent twice): each counts once.
    expect(await p.received('1.2')).toEqual(
      new Map([
        ['1.2.1', 3],
        ['1.2.2', 2],
      ]),
    );
    expect(await p.received('9.9')).toEqual(new Map());
    expect(await p.studyOf(3)).toBe('1.2');
    expect(await p.studyOf(99)).toBeNull();
  });

  it('counts delivered batches, and verified only when every XNAT job counted them', async () => {
    series(1, '1.2.1', { n: 3, state: 'delivered', project: 'P' });
    job(1, 'xnat-rest', 'done', { sent: 3, found: 3, uri: '/data/archive/projects/P/subjects/S/experiments/E' });
    job(1, 'folder', 'done', null);
    series(2, '1.2.2', { n: 2, state: 'delivered', project: 'P' });
    job(2, 'xnat-rest', 'done', { sent: 2, found: null, xnatStatus: 'RECEIVING' });
    series(3, '1.2.3', { n: 2, state: 'complete', project: 'P' });
    const p = createPullProgress(db, ['xnat-rest']);
    expect(await p.delivery('1.2', '1.2.1')).toEqual({
      delivered: 3,
      verified: 3,
      project: 'P',
      uri: '/data/archive/projects/P/subjects/S/experiments/E',
      failed: null,
    });
    expect(await p.delivery('1.2', '1.2.2')).toMatchObject({ delivered: 2, verified: null });
    expect(await p.delivery('1.2', '1.2.3')).toMatchObject({ delivered: 0, verified: null, project: 'P' });
    // Without an XNAT sink nothing is ever verified.
    expect(await createPullProgress(db, []).delivery('1.2', '1.2.1')).toMatchObject({ delivered: 3, verified: null });
  });

  it("names a series' failed delivery by its dead job's code and reason", async () => {
    series(1, '1.2.1', { n: 3, state: 'failed', project: 'P' });
    job(1, 'xnat-rest', 'dead', { sent: 3, found: 0 });
    db.prepare(
      "UPDATE jobs SET last_code = 'ERR_XNAT_VERIFY', last_error = 'Session P/S/E is archived but has no scan with this series.'",
    ).run();
    expect(await createPullProgress(db, ['xnat-rest']).delivery('1.2', '1.2.1')).toMatchObject({
      delivered: 0,
      verified: null,
      failed: { code: 'ERR_XNAT_VERIFY', reason: 'Session P/S/E is archived but has no scan with this series.' },
    });
  });

  it('says how XNAT knows a delivered series and which XNAT sinks delivered it: labels from the pseudonym ledger, UIDs from the UID map', async () => {
    series(1, '1.2.1', { n: 1, state: 'delivered', project: 'P' });
    // Two XNATs configured; this series went to the second only (and to a folder).
    job(1, 'xnat-rest-2', 'done', { sent: 1, found: 1 });
    job(1, 'folder-3', 'done', null);
    const p = createPullProgress(db, ['xnat-rest-1', 'xnat-rest-2']);
    expect(await p.deliveredAs('1.2', '1.2.1')).toBeNull();
    db.prepare(
      "INSERT INTO pseudonym_sessions (project, study_uid, subject_label, label, seq, created_at) VALUES ('P', '1.2', 'P_000001', 'P_000001_01', 1, 0)",
    ).run();
    expect(await p.deliveredAs('1.2', '1.2.1')).toEqual({
      sinks: ['xnat-rest-2'],
      project: 'P',
      subject: 'P_000001',
      session: 'P_000001_01',
      studyInstanceUid: '1.2',
      seriesInstanceUid: '1.2.1',
    });
    db.prepare(
      "INSERT INTO uid_map (project, original, replacement, created_at) VALUES ('P', '1.2', '2.25.1', 0), ('P', '1.2.1', '2.25.2', 0)",
    ).run();
    expect(await p.deliveredAs('1.2', '1.2.1')).toMatchObject({
      studyInstanceUid: '2.25.1',
      seriesInstanceUid: '2.25.2',
    });
  });

  it("names the project a pull gives a study: its row's, else the pull's; never from a cancelled row", async () => {
    series(1, '1.2.1', { n: 1 });
    const p = createPullProgress(db, []);
    expect(await p.projectFor(1)).toBeNull();
    const pull = (project: string | null): number =>
      Number(
        db
          .prepare(
            "INSERT INTO pulls (uid, pacs, project, state, created_at, updated_at) VALUES (?, 'p', ?, 'active', 0, 0) RETURNING id",
          )
          .pluck()
          .get(String(Math.random()), project),
      );
    const row = (pullId: number, state: string, project: string | null): void => {
      db.prepare(
        "INSERT INTO pull_rows (pull_id, line, state, project, study_uid, updated_at) VALUES (?, 2, ?, ?, '1.2', 0)",
      ).run(pullId, state, project);
    };
    row(pull('FIRST'), 'cancelled', null);
    expect(await p.projectFor(1)).toBeNull();
    row(pull('PULLWIDE'), 'retrieving', null);
    expect(await p.projectFor(1)).toBe('PULLWIDE');
    row(pull('PULLWIDE'), 'complete', 'ROWS');
    expect(await p.projectFor(1)).toBe('ROWS');
    expect(await p.listLabels('ROWS', '1.2')).toBeNull();
    db.prepare("UPDATE pull_rows SET session_label = 'Visit_A' WHERE state = 'complete'").run();
    expect(await p.listLabels('ROWS', '1.2')).toEqual({ subject: null, session: 'Visit_A' });
    db.prepare("UPDATE pull_rows SET subject_label = 'Subj_1' WHERE state = 'complete'").run();
    expect(await p.listLabels('ROWS', '1.2')).toEqual({ subject: 'Subj_1', session: 'Visit_A' });
    // The labels are for the row's project: the study filed elsewhere (quarantine) is not labelled by them.
    expect(await p.listLabels('PULLWIDE', '1.2')).toBeNull();
    expect(await p.listLabels('ROWS', '9.9')).toBeNull();
    db.prepare("UPDATE pull_rows SET state = 'cancelled' WHERE state = 'complete'").run();
    expect(await p.listLabels('ROWS', '1.2')).toBeNull();
  });
});
