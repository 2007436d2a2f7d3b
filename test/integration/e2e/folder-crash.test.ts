// Spawn the real daemon, SIGKILL it while it reads a drop from the import folder, restart it: the
// drop is finished, nothing was released before the kill, and every file is accounted for once.
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { freePort } from '../../helpers/peers.ts';
import { spawnDaemon, waitReady, type WatchedProcess } from '../../helpers/spawned-daemon.ts';
import { waitFor } from '../../helpers/wait-for.ts';

function count(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) {
      n++;
    }
  }
  return n;
}

describe('folder source crash recovery', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-folder-crash-'));
  afterAll(() => {
    rmSync(scratch, { recursive: true, force: true });
  });

  it('finishes a drop after a SIGKILL mid-read: every file spooled, released and delivered exactly once', async () => {
    const dataDir = join(scratch, 'data');
    const httpPort = await freePort();
    const configFile = join(scratch, 'gateway.yaml');
    writeFileSync(
      configFile,
      [
        `dataDir: ${dataDir}`,
        'dimse: { enabled: false }',
        `http: { port: ${String(httpPort)} }`,
        'series: { quietPeriodMs: 1500, checkIntervalMs: 100 }',
        'workers: { pollIntervalMs: 100 }',
        'spool: { minFreeBytes: 0 }',
        // One file at a time, so the kill lands well inside the drop.
        'folder: { stableMs: 300, rescanIntervalMs: 100, concurrency: 1 }',
        '',
      ].join('\n'),
    );
    const stage = join(scratch, 'stage', 'session');
    const study = newUid();
    for (const s of ['s1', 's2', 's3']) {
      await writeSeries(join(stage, s), {
        count: 200,
        rows: 64,
        columns: 64,
        studyInstanceUid: study,
        seriesInstanceUid: newUid(),
      });
    }
    const start = (): WatchedProcess => spawnDaemon(configFile);
    const ready = (): Promise<void> => waitReady(httpPort, 20_000);
    const query = (sql: string): unknown => {
      const d = new Database(join(dataDir, 'gateway.db'), { readonly: true });
      try {
        return d.prepare(sql).pluck().get();
      } finally {
        d.close();
      }
    };
    const num = (sql: string): number => Number(query(sql));

    let daemon = start();
    await ready();
    await rename(join(scratch, 'stage', 'session'), join(dataDir, 'import', 'session'));
    await waitFor(() => num('SELECT count(*) FROM instances') >= 300, '300 instances committed', 60_000, 5);
    await daemon.kill();

    // Nothing was released before every file was handed off: the drop is whole, nothing processed.
    const spooledAtKill = num('SELECT count(*) FROM instances');
    expect(spooledAtKill).toBeLessThan(600);
    expect(count(join(dataDir, 'import', 'session'))).toBe(600);
    expect(existsSync(join(dataDir, 'processed'))).toBe(false);
    const ledgerAtKill = num('SELECT count(*) FROM folder_files');

    daemon = start();
    await ready();
    await waitFor(
      () => query(`SELECT state FROM folder_drops WHERE name = 'session'`) === 'released',
      'drop released after restart',
      60_000,
    );
    await waitFor(
      () => num(`SELECT count(*) FROM series WHERE state = 'delivered'`) === 3,
      'three series delivered',
      30_000,
    );
    const logs = daemon.output();
    await daemon.stop();

    // Exactly one drop, one ledger row per file, one instance per SOP Instance UID, delivered once.
    expect(num('SELECT count(*) FROM folder_drops')).toBe(1);
    expect(num('SELECT count(*) FROM folder_files')).toBe(600);
    expect(num(`SELECT count(*) FROM folder_files WHERE outcome IN ('stored', 'duplicate')`)).toBe(600);
    expect(num('SELECT count(*) FROM instances')).toBe(600);
    expect(num('SELECT count(DISTINCT sop_instance_uid) FROM instances')).toBe(600);
    expect(num(`SELECT count(*) FROM job_attempts WHERE outcome = 'delivered'`)).toBe(3);
    // The drop's association outlived the kill, so no series completed half-read: one batch each.
    expect(num('SELECT max(batch) FROM series')).toBe(1);
    expect(count(join(dataDir, 'outbox'))).toBe(600);
    expect(count(join(dataDir, 'processed', 'session'))).toBe(600);
    expect(readdirSync(join(dataDir, 'import'))).toEqual([]);
    // The restart resumed the same drop and did not read again the files the ledger already had.
    const resumed = logs
      .split('\n')
      .filter((l) => l.includes('Reading a stable drop.'))
      .map((l) => JSON.parse(l) as { resumed: boolean; alreadyHandled: number });
    expect(resumed.at(-1)).toMatchObject({ resumed: true, alreadyHandled: ledgerAtKill });
    expect(ledgerAtKill).toBeGreaterThan(0);
  });
});
