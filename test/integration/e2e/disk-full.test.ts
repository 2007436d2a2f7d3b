// A data disk that really fills up (a small tmpfs mounted by the test) under a spawned daemon:
// DCMTK storescu is refused with 0xA700 and new associations with reason 2 before the watermark is
// crossed; an association closing while SQLite cannot write (SQLITE_FULL) does not end the process;
// a start-up on a full disk waits, answering /readyz 503 with the reason; everything recovers within
// seconds of space returning, and every instance storescu saw acknowledged is in the database.
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { readFileSync } from 'node:fs';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { associateRq, rawConnect, releaseRq } from '../../helpers/pdu.ts';
import { describeWithPeers, freePort, run, spawnLogged, type LoggedProcess } from '../../helpers/peers.ts';
import { describeWithTmpfs, mountTmpfs, sampleFree, type Tmpfs } from '../../helpers/tmpfs.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = new URL('../../../', import.meta.url).pathname;
const MiB = 1024 * 1024;
const WATERMARK = 12 * MiB;
/** What SQLite (which cannot reserve) and the slot pool may take below the watermark. */
const SLACK = 2 * MiB;

function sopOf(file: string): string {
  const meta = parsePart10Header(readFileSync(file).subarray(0, 4096));
  if (!meta?.sopInstanceUid) {throw new Error(`no SOP Instance UID in ${file}`);}
  return meta.sopInstanceUid;
}

/** storescu -v output → files answered Success, and files answered with a failure status. */
function outcomes(log: string): { acked: string[]; refused: string[] } {
  const acked: string[] = [];
  const refused: string[] = [];
  let current: string | null = null;
  for (const line of log.split('\n')) {
    const sending = /Sending file: (.+)$/.exec(line);
    if (sending) {current = sending[1]?.trim() ?? null;}
    if (current && /Received Store Response \(Success\)/.test(line)) {
      acked.push(current);
      current = null;
    } else if (current && /Received Store Response/.test(line)) {
      refused.push(current);
      current = null;
    }
  }
  return { acked, refused };
}

describeWithTmpfs('a full data disk', () => {
  describeWithPeers(['storescu', 'echoscu'], 'C-STORE and start-up', () => {
    let disk: Tmpfs;
    let scratch: string;
    let files: string[];
    beforeAll(async () => {
      disk = mountTmpfs(64 * MiB);
      scratch = mkdtempSync(join(tmpdir(), 'xg-diskfull-'));
      // 256×256×16 bit: 128 KiB each; 600 of them are more than the whole disk.
      files = await writeSeries(join(scratch, 'ct'), { count: 600, rows: 256, columns: 256, studyInstanceUid: newUid(), seriesInstanceUid: newUid() });
    });
    afterAll(() => {
      disk.remove();
      rmSync(scratch, { recursive: true, force: true });
    });

    it('refuses at the watermark, survives SQLITE_FULL on association close, waits at start-up, recovers, loses nothing acknowledged', async () => {
      const dataDir = join(disk.dir, 'data');
      const [dimsePort, httpPort] = [await freePort(), await freePort()];
      const configFile = join(scratch, 'gateway.yaml');
      // A long quiet period: nothing is delivered (or removed) while the disk is being filled.
      writeFileSync(configFile, [
        `dataDir: ${dataDir}`, `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`, `http: { port: ${String(httpPort)} }`,
        'folder: { enabled: false }', `spool: { minFreeBytes: ${String(WATERMARK)} }`, 'series: { quietPeriodMs: 600000 }',
        `sinks: [{ type: folder, path: ${join(scratch, 'outbox')} }]`, 'log: { level: info }', '',
      ].join('\n'));
      const start = (): LoggedProcess => spawnLogged(process.execPath, [join(root, 'src/cli/main.ts'), 'run', '--config', configFile], { cwd: root });
      const readyz = async (): Promise<{ status: number; body: { reasons?: string[] } } | null> => {
        try {
          const r = await fetch(`http://127.0.0.1:${String(httpPort)}/readyz`);
          return { status: r.status, body: (await r.json()) as { reasons?: string[] } };
        } catch {
          return null;
        }
      };
      let daemon = start();
      try {
        await waitFor(async () => (await readyz())?.status === 200, 'daemon ready', 20_000);

        // An association opened before the disk fills, closed once SQLite cannot write any more.
        const held = await rawConnect(dimsePort);
        held.socket.write(associateRq({ calledAe: 'XNAT' }));
        expect(await held.firstPduType()).toBe(0x02);

        const sampler = sampleFree(() => disk.free());
        const push = await run('storescu', ['-v', '-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...files], { timeoutMs: 120_000 });
        const { acked, refused } = outcomes(push.stdout + push.stderr);
        expect(acked.length, push.stdout.slice(-2000)).toBeGreaterThan(100);
        expect(refused.length).toBeGreaterThan(0);
        expect(push.stdout + push.stderr).toMatch(/Refused: OutOfResources|Out of Resources/i);
        // Nothing went past the watermark but what cannot reserve (SQLite rows, slot files).
        expect(sampler.stop()).toBeGreaterThan(WATERMARK - SLACK);

        const rejected = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(dimsePort)]);
        expect(rejected.code).not.toBe(0);
        expect(rejected.stdout + rejected.stderr).toMatch(/Local Limit Exceeded/i);
        const notReady = await readyz();
        expect(notReady?.status).toBe(503);
        expect(notReady?.body.reasons?.join(' ')).toMatch(/watermark/);

        // Now really full: SQLite itself cannot write (its WAL emptied first, so the next commit
        // needs new blocks). The held association closes.
        const checkpoint = new Database(join(dataDir, 'gateway.db'));
        checkpoint.pragma('wal_checkpoint(TRUNCATE)');
        checkpoint.close();
        const filler = disk.fill();
        held.socket.write(releaseRq());
        await new Promise((r) => setTimeout(r, 1500));
        held.socket.destroy();
        await new Promise((r) => setTimeout(r, 1500));
        expect(daemon.child.exitCode, daemon.output().slice(-3000)).toBeNull();
        expect(daemon.output()).toMatch(/A database write failed; it is retried until it succeeds/);
        expect((await fetch(`http://127.0.0.1:${String(httpPort)}/healthz`)).status).toBe(200);

        // Space returns: ready within seconds, the postponed close is written, a new store succeeds.
        rmSync(filler);
        const back = Date.now();
        await waitFor(async () => (await readyz())?.status === 200, 'ready again after space returned', 10_000);
        expect(Date.now() - back).toBeLessThan(5000);
        await waitFor(() => daemon.output().includes('A postponed database write succeeded.'), 'postponed association close written', 10_000);
        const one = refused[0] ?? '';
        const again = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(dimsePort), one]);
        expect(again.code, again.stderr).toBe(0);

        // A start-up with the disk full waits (and says why) instead of exiting.
        expect(await daemon.stop('SIGTERM')).toBe(0);
        const filler2 = disk.fill();
        daemon = start();
        await waitFor(async () => (await readyz())?.status === 503, '/readyz answers 503 while waiting for space', 20_000).catch((err: unknown) => {
          throw new Error(`${String(err)}\n${daemon.output().slice(-4000)}`);
        });
        const waiting = await readyz();
        expect(waiting?.body.reasons?.join(' ')).toMatch(/disk is full.*waiting for free space/i);
        await new Promise((r) => setTimeout(r, 3000));
        expect(daemon.child.exitCode, daemon.output().slice(-3000)).toBeNull();
        rmSync(filler2);
        const freed = Date.now();
        await waitFor(async () => (await readyz())?.status === 200, 'started once space returned', 15_000);
        expect(Date.now() - freed).toBeLessThan(8000);
        expect(await daemon.stop('SIGTERM')).toBe(0);

        // Nothing acknowledged was lost; every association row is closed.
        const db = new Database(join(dataDir, 'gateway.db'), { readonly: true });
        try {
          const held2 = new Set(db.prepare('SELECT sop_instance_uid FROM instances').pluck().all() as string[]);
          expect([...acked, one].map(sopOf).filter((s) => !held2.has(s))).toEqual([]);
          expect(db.prepare('SELECT count(*) FROM associations WHERE closed_at IS NULL').pluck().get()).toBe(0);
        } finally {
          db.close();
        }
      } finally {
        if (daemon.child.exitCode === null) {await daemon.stop('SIGKILL', 1000);}
      }
    });
  });
});
