// DCMTK storescu/echoscu → our SCP: durable acknowledgement, bytes as received, AE policy, back-pressure.
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, freePort, run, spawnLogged, waitForPort } from '../../helpers/peers.ts';
import { PYDICOM_FILES, pydicomFile } from '../../helpers/pydicom-files.ts';
import { outboxCounts } from '../../helpers/outbox.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const datasetBytes = (file: string): Buffer => {
  const b = readFileSync(file);
  const meta = parsePart10Header(b.subarray(0, 64 * 1024));
  if (!meta) {
    throw new Error(`${file} is not a Part 10 file`);
  }
  return b.subarray(meta.datasetOffset);
};

describeWithPeers(['storescu', 'echoscu', 'storescp'], 'DIMSE receiver with DCMTK peers', () => {
  let gw: TestDaemon;
  const scratch = mkdtempSync(join(tmpdir(), 'xg-storescu-'));
  beforeAll(async () => {
    gw = await startTestDaemon({ series: { quietPeriodMs: 400, checkIntervalMs: 100 } });
  });
  afterAll(async () => {
    await gw.stop();
    rmSync(scratch, { recursive: true, force: true });
  });
  const instanceRow = (sop: string): { path: string; transfer_syntax_uid: string; series_id: number } =>
    gw.daemon.db
      .prepare(
        'SELECT path, transfer_syntax_uid, series_id FROM instances WHERE sop_instance_uid = ? ORDER BY received_at DESC, id DESC LIMIT 1',
      )
      .get(sop) as never;

  it('answers C-ECHO', async () => {
    const r = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('stores real files in every transfer syntax with the dataset bytes exactly as sent', async () => {
    const oraclePort = await freePort();
    for (const spec of PYDICOM_FILES) {
      const file = await pydicomFile(spec.name);
      const oracleDir = mkdtempSync(join(scratch, 'oracle-'));
      // DCMTK storescp +B writes exactly the bytes it received: the reference for "as sent".
      const prefer = spec.storescuArgs.filter((a) => /^-x[a-z0-9]$/.test(a)).map((a) => `+${a.slice(1)}`);
      const oracle = spawnLogged('storescp', ['+B', '-pm', ...prefer, '-od', oracleDir, String(oraclePort)]);
      await waitForPort(oraclePort);
      const toOracle = await run('storescu', [
        ...spec.storescuArgs,
        '-aec',
        'ANY',
        '127.0.0.1',
        String(oraclePort),
        file.path,
      ]);
      await oracle.stop();
      const toUs = await run('storescu', [
        ...spec.storescuArgs,
        '-aec',
        'XNAT',
        '127.0.0.1',
        String(gw.dimsePort),
        file.path,
      ]);
      expect(toOracle.code, `${spec.name} → storescp: ${toOracle.stderr}`).toBe(0);
      expect(toUs.code, `${spec.name} → gateway: ${toUs.stderr}`).toBe(0);
      const [sent] = readdirSync(oracleDir);
      const row = instanceRow(file.sopInstanceUid);
      expect(row, spec.name).toBeDefined();
      const ours = datasetBytes(join(gw.dataDir, 'spool', row.path));
      expect(
        ours.equals(datasetBytes(join(oracleDir, sent ?? ''))),
        `${spec.name}: dataset bytes differ from what storescu sent`,
      ).toBe(true);
      if (spec.storescuArgs.some((a) => /^-x[dysxvwtr]$/.test(a))) {
        expect(row.transfer_syntax_uid, spec.name).toBe(spec.transferSyntaxUid);
      }
    }
  });

  it('receives a 1,000-instance series on one association, completes and delivers it once', async () => {
    const dir = mkdtempSync(join(scratch, 'series-'));
    await writeSeries(dir, { count: 1000, rows: 64, columns: 64 });
    const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), dir], {
      timeoutMs: 120_000,
    });
    expect(r.code, r.stderr).toBe(0);
    const series = gw.daemon.db
      .prepare(
        `SELECT s.id, s.instance_count, s.state FROM series s JOIN instances i ON i.series_id = s.id WHERE i.dataset_sha256 IS NOT NULL GROUP BY s.id ORDER BY s.instance_count DESC LIMIT 1`,
      )
      .get() as { id: number; instance_count: number; state: string };
    expect(series.instance_count).toBe(1000);
    await waitFor(
      () =>
        (gw.daemon.db.prepare('SELECT state FROM series WHERE id = ?').pluck().get(series.id) as string) ===
        'delivered',
      'series delivered',
      30_000,
    );
    // Delivered de-identified (new UIDs, filed by XNAT labels): one folder of 1,000 instances.
    expect(outboxCounts(join(gw.dataDir, 'outbox'))[0]).toBe(1000);
    const jobs = gw.daemon.db
      .prepare('SELECT count(*) FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.series_id = ?')
      .pluck()
      .get(series.id);
    expect(jobs).toBe(1);
  });

  it('rejects an unknown called AE title with reason 7 and logs the refusal', async () => {
    const r = await run('echoscu', ['-aec', 'NOTXNAT', '-aet', 'CONSOLE1', '127.0.0.1', String(gw.dimsePort)]);
    expect(r.code).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/Called AE Title Not Recognized/i);
    expect(
      gw
        .logs()
        .some(
          (l) =>
            l.msg?.toString().startsWith('Association rejected') &&
            l.calledAe === 'NOTXNAT' &&
            l.peerIp === '127.0.0.1' &&
            l.callingAe === 'CONSOLE1',
        ),
    ).toBe(true);
  });
});

describeWithPeers(['storescu', 'echoscu'], 'DIMSE association policy', () => {
  it('rejects calling AE titles and peers outside the allow-lists with reason 3', async () => {
    const gw = await startTestDaemon({ dimse: { port: 0, host: '127.0.0.1', allowedCallingAeTitles: ['CT1'] } });
    try {
      const bad = await run('echoscu', ['-aec', 'XNAT', '-aet', 'INTRUDER', '127.0.0.1', String(gw.dimsePort)]);
      expect(bad.stdout + bad.stderr).toMatch(/Calling AE Title Not Recognized/i);
      const good = await run('echoscu', ['-aec', 'XNAT', '-aet', 'CT1', '127.0.0.1', String(gw.dimsePort)]);
      expect(good.code, good.stderr).toBe(0);
    } finally {
      await gw.stop();
    }
    const gw2 = await startTestDaemon({ dimse: { port: 0, host: '127.0.0.1', allowedPeers: ['10.99.0.0/16'] } });
    try {
      const r = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw2.dimsePort)]);
      expect(r.stdout + r.stderr).toMatch(/Calling AE Title Not Recognized/i);
    } finally {
      await gw2.stop();
    }
  });

  it('accepts any called AE title when acceptAnyCalledAe is set', async () => {
    const gw = await startTestDaemon({ dimse: { port: 0, host: '127.0.0.1', acceptAnyCalledAe: true } });
    try {
      const r = await run('echoscu', ['-aec', 'WHATEVER', '127.0.0.1', String(gw.dimsePort)]);
      expect(r.code, r.stderr).toBe(0);
    } finally {
      await gw.stop();
    }
  });

  it('refuses work transiently while the disk is below the watermark and recovers by itself', async () => {
    let free = 1e12;
    const gw = await startTestDaemon({ spool: { minFreeBytes: 1e9 } }, { freeBytes: () => free });
    try {
      const file = (await pydicomFile('CT_small.dcm')).path;
      free = 1e6;
      await new Promise((r) => setTimeout(r, 1100)); // admission readings are cached for 1 s
      const refused = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), file]);
      expect(refused.code).not.toBe(0);
      expect(refused.stdout + refused.stderr).toMatch(/Local Limit Exceeded/i);
      const ready = await fetch(`http://127.0.0.1:${String(gw.httpPort)}/readyz`);
      expect(ready.status).toBe(503);
      free = 1e12;
      await new Promise((r) => setTimeout(r, 1100));
      const ok = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), file]);
      expect(ok.code, ok.stderr).toBe(0);
      expect((await fetch(`http://127.0.0.1:${String(gw.httpPort)}/readyz`)).status).toBe(200);
    } finally {
      await gw.stop();
    }
  });

  it('answers 0xA700 and keeps no file when the database cannot commit', async () => {
    const gw = await startTestDaemon();
    try {
      gw.daemon.db.exec(
        `CREATE TRIGGER fail_insert BEFORE INSERT ON instances BEGIN SELECT RAISE(ABORT, 'injected failure'); END`,
      );
      const file = (await pydicomFile('CT_small.dcm')).path;
      const r = await run('storescu', ['-v', '-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), file]);
      expect(r.stdout + r.stderr).toMatch(/Refused: OutOfResources/);
      const spool = join(gw.dataDir, 'spool');
      const written = readdirSync(spool, { recursive: true, withFileTypes: true }).filter(
        (e) => e.isFile() && statSync(join(e.parentPath, e.name)).size > 0,
      );
      expect(written).toEqual([]);
      expect(gw.daemon.db.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(0);
    } finally {
      await gw.stop();
    }
  });
});
