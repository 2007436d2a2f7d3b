// What an operator sees of an import-folder drop: the metrics count it like an association and its
// rejected files as failures, the words fit a folder (no "C-STORE"), and the log line of a rejected
// file finds it (drop id, file number, rejected.json) without naming it unless log.fileNames.
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newUid, writeInstance, writeSeries } from '../../helpers/dicom-factory.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const FAST = { stableMs: 400, rescanIntervalMs: 100, pollIntervalMs: 100 };
const DROP = 'Smith John 1961-02-03';

async function dropWithRejects(t: TestDaemon): Promise<void> {
  const stage = join(t.dataDir, 'stage', DROP);
  await writeSeries(join(stage, 'ct'), { count: 2 });
  await writeFile(join(stage, 'Smith John report.txt'), 'not an image\n');
  // File Meta says one SOP Instance UID, the dataset another.
  await writeInstance(join(stage, 'mismatch.dcm'), {
    sopInstanceUid: newUid(),
    extraElements: [{ tag: 0x00080018, vr: 'UI', value: newUid() }],
  });
  await rename(stage, join(t.dataDir, 'import', DROP));
  await waitFor(
    () =>
      (t.daemon.db.prepare(`SELECT count(*) FROM folder_drops WHERE state = 'released'`).pluck().get() as number) === 1,
    'drop released',
    15_000,
  );
}

describe('import folder, as an operator sees it', () => {
  let t: TestDaemon | null = null;
  afterEach(async () => {
    await t?.stop();
    t = null;
  });

  it('counts the drop in associations_total and its rejected files in instance_failures_total', async () => {
    t = await startTestDaemon({ folder: FAST });
    await dropWithRejects(t);
    const metrics = await (await fetch(`http://127.0.0.1:${String(t.httpPort)}/metrics`)).text();
    expect(metrics).toContain('xnat_gateway_associations_total{source="folder",outcome="released"} 1');
    expect(metrics).toContain('xnat_gateway_instance_failures_total{source="folder",code="ERR_FOLDER_NOT_DICOM"} 1');
    expect(metrics).toContain('xnat_gateway_instance_failures_total{source="folder",code="ERR_DICOM_UID_MISMATCH"} 1');
  });

  it('says what a folder file disagrees with (its meta information, not a C-STORE request)', async () => {
    t = await startTestDaemon({ folder: FAST });
    await dropWithRejects(t);
    const report = JSON.parse(await readFile(join(t.dataDir, 'rejected', DROP, 'rejected.json'), 'utf8')) as {
      dropId: number;
      files: { file: string; code: string; reason: string }[];
    };
    const mismatch = report.files.find((f) => f.file === 'mismatch.dcm');
    expect(mismatch?.code).toBe('ERR_DICOM_UID_MISMATCH');
    expect(mismatch?.reason).toBe(
      "SOP Class/Instance UID in the dataset differ from the file's meta information (MediaStorageSOPClassUID/MediaStorageSOPInstanceUID).",
    );
    expect(JSON.stringify(report)).not.toContain('C-STORE');
  });

  it('logs each rejected file by drop id and number, pointing at rejected.json; its name only with log.fileNames', async () => {
    t = await startTestDaemon({ folder: FAST, log: { level: 'info' } });
    await dropWithRejects(t);
    const rejectedLines = t.logs().filter((l) => String(l.msg).startsWith('A file in a drop was rejected'));
    expect(rejectedLines).toHaveLength(2);
    const report = JSON.parse(await readFile(join(t.dataDir, 'rejected', DROP, 'rejected.json'), 'utf8')) as {
      dropId: number;
    };
    for (const l of rejectedLines) {
      expect(l).toMatchObject({ level: 40, dropId: report.dropId, files: 4, rejectedDir: join(t.dataDir, 'rejected') });
      expect(l.file).toBeGreaterThanOrEqual(1);
      expect(l).not.toHaveProperty('fileName');
    }
    // Nothing at info or above names the drop (it names a patient).
    expect(t.logs().filter((l) => (l.level as number) >= 30 && JSON.stringify(l).includes('Smith'))).toEqual([]);
    await t.stop();

    t = await startTestDaemon({ folder: FAST, log: { level: 'info', fileNames: true } });
    await dropWithRejects(t);
    const named = t
      .logs()
      .filter((l) => String(l.msg).startsWith('A file in a drop was rejected'))
      .map((l) => l.fileName)
      .sort();
    expect(named).toEqual([`${DROP}/Smith John report.txt`, `${DROP}/mismatch.dcm`]);
  });
});
