// A real STOW-RS client: Orthanc's DICOMweb plugin (Debian orthanc-dicomweb) pushes a study to
// the gateway (POST /dicom-web/servers/{name}/stow), with its bearer token in the configured headers.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { newUid, writeSeries } from '../../../helpers/dicom-factory.ts';
import { startOrthanc, type OrthancHandle } from '../../../helpers/orthanc.ts';
import { describeWithPeers, isCi } from '../../../helpers/peers.ts';
import { removeDir, SENDER, startStowDaemon, TOKEN, type StowDaemon } from './helpers.ts';

const PLUGIN = '/usr/share/orthanc/plugins/libOrthancDicomWeb.so';

describeWithPeers(['Orthanc'], "STOW-RS from Orthanc's DICOMweb plugin", () => {
  let d: StowDaemon | undefined;
  let orthanc: OrthancHandle | undefined;
  afterAll(async () => {
    await orthanc?.stop();
    await d?.stop();
    removeDir(d);
  });

  it.skipIf(!existsSync(PLUGIN) && !isCi)(
    "stores a study Orthanc pushes (a 73-character boundary, beyond RFC 2046's 70), and Orthanc sees it accepted",
    async () => {
      expect(existsSync(PLUGIN), `${PLUGIN} is missing (apt-get install orthanc-dicomweb)`).toBe(true);
      d = await startStowDaemon();
      orthanc = await startOrthanc({
        config: {
          Plugins: [PLUGIN],
          DicomWeb: {
            Enable: true,
            Servers: {
              gateway: {
                Url: `http://127.0.0.1:${String(d.stowPort)}/dicom-web/`,
                HttpHeaders: { Authorization: `Bearer ${TOKEN}` },
              },
            },
          },
        },
      });
      const study = newUid();
      const files = await writeSeries(join(d.dir, 'series'), {
        count: 12,
        rows: 64,
        columns: 64,
        studyInstanceUid: study,
        seriesInstanceUid: newUid(),
      });
      for (const f of files) {
        await orthanc.upload(f);
      }
      const studies = await fetch(`${orthanc.restUrl}/studies`).then((r) => r.json() as Promise<string[]>);
      const res = await fetch(`${orthanc.restUrl}/dicom-web/servers/gateway/stow`, {
        method: 'POST',
        body: JSON.stringify({ Resources: studies, Synchronous: true }),
      });
      expect(
        res.status,
        `${await res.clone().text()}\n${orthanc.log().slice(-3000)}\n${d.process.output().slice(-3000)}`,
      ).toBe(200);
      const db = new Database(join(d.dataDir, 'gateway.db'), { readonly: true });
      const rows = db
        .prepare(
          `SELECT count(*) AS n, min(i.source) AS source, min(a.calling_ae) AS sender FROM instances i JOIN series s ON s.id = i.series_id JOIN associations a ON a.id = i.association_id WHERE s.study_uid = ?`,
        )
        .get(study);
      db.close();
      expect(rows).toEqual({ n: 12, source: 'stow', sender: SENDER });
    },
    120_000,
  );
});
