//! The Orthanc harness works end to end: upload over REST, then C-MOVE a study to a DCMTK storescp.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { newUid, writeInstance } from '../../helpers/dicom-factory.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { describeWithPeers, freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../../helpers/peers.ts';

describeWithPeers(['Orthanc', 'movescu', 'storescp', 'echoscu'], 'orthanc harness', () => {
  let dir: string;
  let orthanc: OrthancHandle | undefined;
  let scp: LoggedProcess | undefined;
  let scpPort: number;
  let received: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xnatgw-orthanc-it-'));
    received = join(dir, 'received');
    await mkdir(received);
    scpPort = await freePort();
    scp = spawnLogged('storescp', ['-od', received, '-aet', 'DEST', String(scpPort)]);
    await waitForPort(scpPort);
    orthanc = await startOrthanc({ dicomAet: 'ORTHANC', modalities: { dest: ['DEST', '127.0.0.1', scpPort] } });
  });

  afterAll(async () => {
    await orthanc?.stop();
    await scp?.stop();
    await rm(dir, { recursive: true, force: true });
  });

  it('answers C-ECHO on its DICOM port', async () => {
    const o = orthanc as OrthancHandle;
    const res = await run('echoscu', ['-aec', o.aet, '127.0.0.1', String(o.dicomPort)], { timeoutMs: 30_000 });
    expect(res.code, `${res.stderr}\n${o.log()}`).toBe(0);
  });

  it('C-MOVEs an uploaded study to a storescp modality', async () => {
    const o = orthanc as OrthancHandle;
    const studyInstanceUid = newUid();
    const info = await writeInstance(join(dir, 'ct.dcm'), { studyInstanceUid });
    await o.upload(info.path);
    const res = await run(
      'movescu',
      [
        '-S',
        '-aet',
        'MOVER',
        '-aec',
        o.aet,
        '-aem',
        'DEST',
        '-k',
        'QueryRetrieveLevel=STUDY',
        '-k',
        `StudyInstanceUID=${studyInstanceUid}`,
        '127.0.0.1',
        String(o.dicomPort),
      ],
      { timeoutMs: 60_000 },
    );
    expect(res.code, `${res.stdout}${res.stderr}\n${o.log()}`).toBe(0);
    // movescu returns after the C-MOVE-RSP, which Orthanc sends once its sub-operations completed.
    expect(await readdir(received)).toEqual([`CT.${info.sopInstanceUid}`]);
  });
});
