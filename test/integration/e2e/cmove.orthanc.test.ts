// Orthanc as a hospital PACS: movescu asks it to C-MOVE a study to the gateway, which stores,
// completes and delivers every series.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { newUid, writeInstance, writeSeries } from '../../helpers/dicom-factory.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { outboxCounts } from '../../helpers/outbox.ts';

describeWithPeers(['Orthanc', 'movescu'], 'C-MOVE from Orthanc to the gateway', () => {
  let gw: TestDaemon;
  let orthanc: OrthancHandle;
  const scratch = mkdtempSync(join(tmpdir(), 'xg-cmove-'));
  const study = newUid();
  const seriesUids = [newUid(), newUid()];
  // A vendor-private storage SOP class (Philips): refusing unknown classes loses data (CTP #35).
  const privateSeries = newUid();
  const PRIVATE_SOP_CLASS = '1.3.46.670589.11.0.0.12.1';
  beforeAll(async () => {
    gw = await startTestDaemon({ dimse: { port: 0, host: '127.0.0.1', allowedCallingAeTitles: ['ORTHANC'] } });
    orthanc = await startOrthanc({ dicomAet: 'ORTHANC', modalities: { gateway: ['XNAT', '127.0.0.1', gw.dimsePort] } });
    for (const [i, series] of seriesUids.entries()) {
      const files = await writeSeries(join(scratch, `s${String(i)}`), {
        count: 25,
        studyInstanceUid: study,
        seriesInstanceUid: series,
        seriesNumber: i + 1,
      });
      for (const f of files) {
        await orthanc.upload(f);
      }
    }
    const priv = await writeInstance(join(scratch, 'private.dcm'), {
      studyInstanceUid: study,
      seriesInstanceUid: privateSeries,
      sopClassUid: PRIVATE_SOP_CLASS,
      modality: 'MR',
    });
    await orthanc.upload(priv.path);
  });
  afterAll(async () => {
    await orthanc.stop();
    await gw.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('receives the whole study on a C-MOVE, private SOP class included, and delivers each series exactly once', async () => {
    const r = await run('movescu', [
      '-v',
      '-S',
      '-aet',
      'MOVESCU',
      '-aec',
      'ORTHANC',
      '-aem',
      'XNAT',
      '-k',
      'QueryRetrieveLevel=STUDY',
      '-k',
      `StudyInstanceUID=${study}`,
      '127.0.0.1',
      String(orthanc.dicomPort),
    ]);
    expect(r.code, `${r.stdout}${r.stderr}\n${orthanc.log()}`).toBe(0);
    const db = gw.daemon.db;
    await waitFor(
      () =>
        (db
          .prepare(`SELECT count(*) FROM series WHERE study_uid = ? AND state = 'delivered'`)
          .pluck()
          .get(study) as number) === 3,
      'all three series delivered',
      30_000,
    ).catch((err: unknown) => {
      throw new Error(
        `${String(err)}\n${r.stdout.slice(-600)}\n${orthanc
          .log()
          .split('\n')
          .filter((l) => l.startsWith('E'))
          .join('\n')}\n${JSON.stringify(db.prepare('SELECT series_uid, state, instance_count FROM series').all())}`,
      );
    });
    expect(
      db
        .prepare('SELECT sop_class_uid FROM instances i JOIN series s ON s.id = i.series_id WHERE s.series_uid = ?')
        .pluck()
        .all(privateSeries),
    ).toEqual([PRIVATE_SOP_CLASS]);
    // The two series of 25 and the private-class instance, de-identified and filed under their XNAT labels.
    expect(seriesUids).toHaveLength(2);
    expect(outboxCounts(join(gw.dataDir, 'outbox'))).toEqual([25, 25, 1]);
    const senders = db.prepare(`SELECT DISTINCT calling_ae, called_ae FROM instances`).all();
    expect(senders).toEqual([{ calling_ae: 'ORTHANC', called_ae: 'XNAT' }]);
    const attempts = db.prepare(`SELECT count(*) FROM job_attempts`).pluck().get();
    expect(attempts).toBe(3);
  });
});
