// Spawn the real daemon, SIGKILL it in the middle of a storescu push, restart it: every instance
// storescu saw acknowledged is in the spool and database and is delivered exactly once.
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { readFileSync } from 'node:fs';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, freePort, run, spawnLogged } from '../../helpers/peers.ts';
import { spawnDaemon, waitReady, type WatchedProcess } from '../../helpers/spawned-daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { acknowledgedFiles } from '../../helpers/storescu-log.ts';

function sopOf(file: string): string {
  const meta = parsePart10Header(readFileSync(file).subarray(0, 4096));
  if (!meta?.sopInstanceUid) {
    throw new Error(`no SOP Instance UID in ${file}`);
  }
  return meta.sopInstanceUid;
}

describeWithPeers(['storescu'], 'crash recovery', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-crash-'));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('delivers exactly once every instance acknowledged before a SIGKILL', async () => {
    const dataDir = join(scratch, 'data');
    const [dimsePort, httpPort] = [await freePort(), await freePort()];
    const configFile = join(scratch, 'gateway.yaml');
    writeFileSync(
      configFile,
      `dataDir: ${dataDir}\ndimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }\nhttp: { port: ${String(httpPort)} }\nseries: { quietPeriodMs: 1500, checkIntervalMs: 100 }\nworkers: { pollIntervalMs: 100 }\nspool: { minFreeBytes: 0 }\n`,
    );
    const study = newUid();
    const files = [
      ...(await writeSeries(join(scratch, 'a'), {
        count: 300,
        rows: 64,
        columns: 64,
        studyInstanceUid: study,
        seriesInstanceUid: newUid(),
      })),
      ...(await writeSeries(join(scratch, 'b'), {
        count: 300,
        rows: 64,
        columns: 64,
        studyInstanceUid: study,
        seriesInstanceUid: newUid(),
      })),
    ];
    const start = (): WatchedProcess => spawnDaemon(configFile);
    const ready = (): Promise<void> => waitReady(httpPort, 20_000);

    let daemon = start();
    await ready();
    const push = spawnLogged('storescu', ['-v', '-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...files], {
      timeoutMs: 120_000,
    });
    const db = (): Database.Database => new Database(join(dataDir, 'gateway.db'), { readonly: true });
    // Wait for storescu's 150th Success, not for 150 committed rows: a row is committed before its
    // response is sent, so killing at 150 rows can leave storescu with only 149 acknowledgements.
    await waitFor(() => acknowledgedFiles(push.output()).length >= 150, '150 instances acknowledged', 60_000, 5);
    await daemon.kill();
    await push.exited;
    const acked = acknowledgedFiles(push.output()).map(sopOf);
    expect(acked.length).toBeGreaterThanOrEqual(150);
    expect(acked.length).toBeLessThan(files.length);

    // Every acknowledged instance survived the kill, before any recovery ran.
    const afterKill = db();
    const held = new Set(afterKill.prepare('SELECT sop_instance_uid FROM instances').pluck().all() as string[]);
    afterKill.close();
    expect(acked.filter((s) => !held.has(s))).toEqual([]);

    // Restart; the modality retries the whole push, as consoles do after a failure.
    daemon = start();
    await ready();
    const retry = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...files], {
      timeoutMs: 120_000,
    });
    expect(retry.code, retry.stderr).toBe(0);
    await waitFor(
      () => {
        const d = db();
        try {
          return (
            d.prepare(`SELECT count(*) FROM series WHERE state <> 'delivered'`).pluck().get() === 0 &&
            (d.prepare('SELECT count(*) FROM series').pluck().get() as number) > 0
          );
        } finally {
          d.close();
        }
      },
      'all series delivered',
      60_000,
    );
    await daemon.stop('SIGTERM');

    const final = db();
    const rows = final.prepare('SELECT sop_instance_uid AS sop, series_id AS seriesId FROM instances').all() as {
      sop: string;
      seriesId: number;
    }[];
    const deliveries = final
      .prepare(
        `SELECT j.series_id AS seriesId, count(*) AS n FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE a.outcome = 'delivered' GROUP BY j.series_id`,
      )
      .all() as { seriesId: number; n: number }[];
    const interrupted = final
      .prepare(`SELECT count(*) FROM associations WHERE outcome = 'interrupted'`)
      .pluck()
      .get() as number;
    const removed = final
      .prepare(`SELECT count(*) FROM spool_originals WHERE state = 'removed' AND reason = 'delivered'`)
      .pluck()
      .get() as number;
    const batches = final.prepare('SELECT count(*) FROM series').pluck().get() as number;
    final.close();
    expect(rows).toHaveLength(files.length);
    expect(new Set(rows.map((r) => r.sop)).size).toBe(files.length);
    expect(deliveries.every((d) => d.n === 1)).toBe(true);
    expect(interrupted).toBeGreaterThanOrEqual(1);
    const delivered = readdirSync(join(dataDir, 'outbox'), { recursive: true }).filter((f) =>
      String(f).endsWith('.dcm'),
    );
    expect(delivered).toHaveLength(files.length);
    // Delivered and verified: the originals left the spool (spool.retainDelivered 0); only empty
    // pre-created slots remain, and the instance rows stay as the record.
    const spoolFiles = readdirSync(join(dataDir, 'spool'), { recursive: true, withFileTypes: true }).filter(
      (e) => e.isFile() && statSync(join(e.parentPath, e.name)).size > 0,
    );
    expect(spoolFiles).toHaveLength(0);
    expect(removed).toBe(batches);
  });
});
