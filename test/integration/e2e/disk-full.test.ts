// A data disk that really fills up (a small tmpfs mounted by the test) under a spawned daemon:
// DCMTK storescu is refused with 0xA700 and new associations with reason 2 before the watermark is
// crossed; an association closing while SQLite cannot write (SQLITE_FULL) does not end the process;
// a start-up on a full disk waits, answering /readyz 503 with the reason; everything recovers within
// seconds of space returning, and every instance storescu saw acknowledged is in the database.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { readFileSync } from 'node:fs';
import { encodeInstance, newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { rawZip } from '../../helpers/raw-zip.ts';
import { associateRq, rawConnect, releaseRq } from '../../helpers/pdu.ts';
import { describeWithPeers, freePort, run, spawnLogged, type LoggedProcess } from '../../helpers/peers.ts';
import { describeWithTmpfs, mountTmpfs, sampleFree, type Tmpfs } from '../../helpers/tmpfs.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import { storescuOutcomes } from '../../helpers/storescu-log.ts';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';

const root = new URL('../../../', import.meta.url).pathname;
const MiB = 1024 * 1024;
const WATERMARK = 12 * MiB;
/** What SQLite (which cannot reserve) and the slot pool may take below the watermark. */
const SLACK = 2 * MiB;

function sopOf(file: string): string {
  const meta = parsePart10Header(readFileSync(file).subarray(0, 4096));
  if (!meta?.sopInstanceUid) {
    throw new Error(`no SOP Instance UID in ${file}`);
  }
  return meta.sopInstanceUid;
}

/** waitFor, and on a timeout the daemon's last log lines in the error. */
async function waitLogged(
  daemon: LoggedProcess,
  predicate: () => boolean | Promise<boolean>,
  message: string,
  timeoutMs: number,
): Promise<void> {
  await waitFor(predicate, message, timeoutMs).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${daemon.output().slice(-4000)}`);
  });
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
      files = await writeSeries(join(scratch, 'ct'), {
        count: 600,
        rows: 256,
        columns: 256,
        studyInstanceUid: newUid(),
        seriesInstanceUid: newUid(),
      });
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
      writeFileSync(
        configFile,
        [
          `dataDir: ${dataDir}`,
          `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`,
          `http: { port: ${String(httpPort)} }`,
          'folder: { enabled: false }',
          `spool: { minFreeBytes: ${String(WATERMARK)} }`,
          'series: { quietPeriodMs: 600000 }',
          `sinks: [{ type: folder, path: ${join(scratch, 'outbox')} }]`,
          'log: { level: info }',
          '',
        ].join('\n'),
      );
      const start = (): LoggedProcess =>
        spawnLogged(process.execPath, [join(root, 'src/cli/main.ts'), 'run', '--config', configFile], { cwd: root });
      const readyz = async (): Promise<{ status: number; body: { reasons?: string[] } } | null> => {
        try {
          const r = await fetch(`http://127.0.0.1:${String(httpPort)}/readyz`);
          return { status: r.status, body: (await r.json()) as { reasons?: string[] } };
        } catch {
          return null;
        }
      };
      let daemon = start();
      let sampler: ReturnType<typeof sampleFree> | null = null;
      try {
        await waitFor(async () => (await readyz())?.status === 200, 'daemon ready', 20_000);

        // An association opened before the disk fills, closed once SQLite cannot write any more.
        const held = await rawConnect(dimsePort);
        held.socket.write(associateRq({ calledAe: 'XNAT' }));
        expect(await held.firstPduType()).toBe(0x02);

        sampler = sampleFree(() => disk.free());
        const push = await run('storescu', ['-v', '-aec', 'XNAT', '127.0.0.1', String(dimsePort), ...files], {
          timeoutMs: 120_000,
        });
        const { acked, refused } = storescuOutcomes(push.stdout + push.stderr);
        expect(acked.length, push.stdout.slice(-2000)).toBeGreaterThan(100);
        expect(refused.length).toBeGreaterThan(0);
        expect(push.stdout + push.stderr).toMatch(/Refused: OutOfResources|Out of Resources/i);
        // Nothing went past the watermark but what cannot reserve (SQLite rows, slot files).
        const lowest = sampler.stop();
        console.log(
          `disk-full: ${String(acked.length)} acknowledged, ${String(refused.length)} refused; lowest free ${String(lowest)} B, watermark ${String(WATERMARK)} B`,
        );
        expect(lowest).toBeGreaterThan(WATERMARK - SLACK);
        sampler = null;

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
        const heldRow = (): unknown => {
          const ro = new Database(join(dataDir, 'gateway.db'), { readonly: true });
          try {
            return ro.prepare(`SELECT outcome FROM associations WHERE calling_ae = 'RAWSCU'`).get();
          } finally {
            ro.close();
          }
        };
        held.socket.write(releaseRq());
        await waitLogged(
          daemon,
          () => daemon.output().includes('A database write failed; it is retried until it succeeds'),
          'the association close refused by SQLite',
          10_000,
        );
        held.socket.destroy();
        // Still up a while later, the close not written (it waits in memory for space).
        await new Promise((r) => setTimeout(r, 1500));
        expect(daemon.child.exitCode, daemon.output().slice(-3000)).toBeNull();
        expect(heldRow()).toEqual({ outcome: null });
        expect((await fetch(`http://127.0.0.1:${String(httpPort)}/healthz`)).status).toBe(200);

        // Space returns: ready within seconds, the postponed close is written, a new store succeeds.
        rmSync(filler);
        const back = Date.now();
        await waitFor(async () => (await readyz())?.status === 200, 'ready again after space returned', 10_000);
        console.log(`disk-full: ready again ${String(Date.now() - back)} ms after space returned`);
        expect(Date.now() - back).toBeLessThan(5000);
        await waitFor(
          () => daemon.output().includes('A postponed database write succeeded.'),
          'postponed association close written',
          10_000,
        );
        // Written by the retry, as released (not closed as dropped by a later start-up's recovery).
        expect(heldRow()).toEqual({ outcome: 'released' });
        const one = refused[0] ?? '';
        const again = await run('storescu', ['-aec', 'XNAT', '127.0.0.1', String(dimsePort), one]);
        expect(again.code, again.stderr).toBe(0);

        // A start-up with the disk full waits (and says why) instead of exiting.
        expect(await daemon.stop('SIGTERM')).toBe(0);
        const filler2 = disk.fill();
        daemon = start();
        await waitFor(
          async () => (await readyz())?.status === 503,
          '/readyz answers 503 while waiting for space',
          20_000,
        ).catch((err: unknown) => {
          throw new Error(`${String(err)}\n${daemon.output().slice(-4000)}`);
        });
        const waiting = await readyz();
        expect(waiting?.body.reasons?.join(' ')).toMatch(/disk is full.*waiting for free space/i);
        await new Promise((r) => setTimeout(r, 3000));
        expect(daemon.child.exitCode, daemon.output().slice(-3000)).toBeNull();
        rmSync(filler2);
        const freed = Date.now();
        await waitFor(async () => (await readyz())?.status === 200, 'started once space returned', 15_000);
        console.log(
          `disk-full: a start-up waiting for space was ready ${String(Date.now() - freed)} ms after space returned`,
        );
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
        sampler?.stop();
        if (daemon.child.exitCode === null) {
          await daemon.stop('SIGKILL', 1000);
        }
      }
    });
  });

  describeWithPeers(['curl'], 'import-folder zips and /explain uploads', () => {
    let disk: Tmpfs;
    let scratch: string;
    beforeAll(() => {
      disk = mountTmpfs(64 * MiB);
      scratch = mkdtempSync(join(tmpdir(), 'xg-diskfull-zip-'));
    });
    afterAll(() => {
      disk.remove();
      rmSync(scratch, { recursive: true, force: true });
    });

    /** A real DICOM series (random pixels: it compresses like real images, not like a pattern) as a stored zip. */
    function seriesZip(count: number): { zip: Buffer; sops: string[] } {
      const study = newUid();
      const series = newUid();
      const entries = Array.from({ length: count }, (_, i) => {
        const inst = encodeInstance({
          studyInstanceUid: study,
          seriesInstanceUid: series,
          instanceNumber: i + 1,
          rows: 256,
          columns: 256,
        });
        // Pixel Data is the last element: its value becomes noise.
        const pixels = 256 * 256 * 2;
        randomBytes(pixels).copy(inst.bytes, inst.bytes.length - pixels);
        return { name: `ct/${String(i + 1).padStart(4, '0')}.dcm`, data: inst.bytes, sop: inst.sopInstanceUid };
      });
      return { zip: rawZip(entries.map(({ name, data }) => ({ name, data }))), sops: entries.map((e) => e.sop) };
    }

    it('rejects zip bombs from the central directory or while inflating, waits for space for a big zip, takes one /explain upload at a time, never crosses the watermark', async () => {
      const dataDir = join(disk.dir, 'data');
      const importDir = join(scratch, 'import');
      const stage = join(scratch, 'stage');
      mkdirSync(importDir);
      mkdirSync(stage);
      const [dimsePort, httpPort] = [await freePort(), await freePort()];
      const configFile = join(scratch, 'gateway.yaml');
      writeFileSync(
        configFile,
        [
          `dataDir: ${dataDir}`,
          `dimse: { port: ${String(dimsePort)}, host: 127.0.0.1 }`,
          `http: { port: ${String(httpPort)} }`,
          `folder: { path: ${importDir}, mode: events, stableMs: 300, rescanIntervalMs: 300 }`,
          `spool: { minFreeBytes: ${String(WATERMARK)} }`,
          'series: { quietPeriodMs: 300, checkIntervalMs: 100 }',
          'workers: { pollIntervalMs: 100 }',
          `sinks: [{ type: folder, path: ${join(scratch, 'outbox')} }]`,
          'log: { level: info }',
          '',
        ].join('\n'),
      );
      const daemon = spawnLogged(process.execPath, [join(root, 'src/cli/main.ts'), 'run', '--config', configFile], {
        cwd: root,
      });
      const base = `http://127.0.0.1:${String(httpPort)}`;
      /** Moves a staged drop into the import folder in one rename, as a finished copy would land. */
      const drop = (name: string, bytes: Buffer): void => {
        mkdirSync(join(stage, name));
        writeFileSync(join(stage, name, `${name}.zip`), bytes);
        renameSync(join(stage, name), join(importDir, name));
      };
      const rejectedJson = (name: string): { files: { file: string; code: string; reason: string }[] } | null => {
        const f = join(dataDir, 'rejected', name, 'rejected.json');
        return existsSync(f)
          ? (JSON.parse(readFileSync(f, 'utf8')) as { files: { file: string; code: string; reason: string }[] })
          : null;
      };
      const sampler = sampleFree(() => disk.free());
      try {
        await waitFor(
          async () =>
            (await fetch(`${base}/readyz`).then(
              (r) => r.status,
              () => 0,
            )) === 200,
          'daemon ready',
          20_000,
        );

        // 1. Honest headers, 96 MiB of zeros in 100 KiB: refused from the central directory.
        const zeros = Buffer.alloc(96 * MiB);
        const deflated = deflateRawSync(zeros, { level: 9 });
        drop('bomb', rawZip([{ name: 'zeros.dcm', data: zeros, method: 8, compressed: deflated }]));
        // 2. Lying headers: declares 100 bytes, inflates to 96 MiB. Stopped at what it declared.
        drop('liar', rawZip([{ name: 'zeros.dcm', data: zeros, method: 8, compressed: deflated, size: 100 }]));
        await waitFor(
          () => rejectedJson('bomb') !== null && rejectedJson('liar') !== null,
          'both bombs rejected',
          30_000,
        );
        expect(rejectedJson('bomb')?.files).toEqual([
          expect.objectContaining({
            file: 'bomb.zip',
            code: 'ERR_FOLDER_ZIP_REJECTED',
            reason: expect.stringMatching(/times its own .*maxZipRatio 50/) as unknown,
          }),
        ]);
        const liar = rejectedJson('liar')?.files ?? [];
        expect(liar.find((f) => f.file === 'liar.zip')).toMatchObject({ code: 'ERR_FOLDER_ZIP_REJECTED' });
        // Not retried: rejected once, gone from the import folder.
        expect(readdirSync(importDir)).toEqual([]);
        expect(daemon.output()).not.toMatch(/could not be read\./);

        // 3. Someone else's 40 MiB on the disk, and a real 14 MiB series: it fits the disk but not
        //    now. It waits (not rejected); space back: read within seconds, delivered, spool emptied.
        //    (On this 52 MiB above the watermark the series is held three times at the peak: spooled,
        //    its de-identified work copy, and the zip moved into processed/.)
        const other = join(disk.dir, 'other-data');
        writeFileSync(other, randomBytes(40 * MiB));
        const big = seriesZip(112);
        drop('big', big.zip);
        await waitLogged(
          daemon,
          () => daemon.output().includes('A zip in a drop waits for free space'),
          'the big zip waits for space',
          30_000,
        );
        expect(existsSync(join(importDir, 'big', 'big.zip'))).toBe(true);
        expect(rejectedJson('big')).toBeNull();

        // 4. /explain meanwhile: one upload at a time (429 for the others), 507 when it cannot fit.
        const upload = join(scratch, 'upload.bin');
        writeFileSync(upload, randomBytes(6 * MiB));
        const curl = (extra: string[]): Promise<{ code: number | null; stdout: string }> =>
          run(
            'curl',
            [
              '-s',
              '-o',
              '/dev/null',
              '-w',
              '%{http_code}',
              '-H',
              'Content-Type: application/octet-stream',
              ...extra,
              `${base}/explain`,
            ],
            { timeoutMs: 60_000 },
          );
        const slow = curl(['--limit-rate', '1M', '--data-binary', `@${upload}`]);
        await new Promise((r) => setTimeout(r, 800));
        const others = await Promise.all([1, 2].map(() => curl(['--data-binary', `@${upload}`])));
        expect(others.map((o) => o.stdout)).toEqual(['429', '429']);
        expect((await slow).stdout).toBe('200');
        const huge = join(scratch, 'huge.bin');
        writeFileSync(huge, randomBytes(48 * MiB));
        expect((await curl(['--data-binary', `@${huge}`])).stdout).toBe('507');
        expect(daemon.child.exitCode, daemon.output().slice(-3000)).toBeNull();
        const lowest = sampler.stop();
        console.log(`disk-full: zips and uploads, lowest free ${String(lowest)} B, watermark ${String(WATERMARK)} B`);
        expect(lowest).toBeGreaterThan(WATERMARK - SLACK);

        rmSync(other);
        const freed = Date.now();
        await waitLogged(
          daemon,
          () => existsSync(join(dataDir, 'processed', 'big')),
          'the big zip read after space returned',
          20_000,
        );
        console.log(`disk-full: the waiting zip was read ${String(Date.now() - freed)} ms after space returned`);
        expect(Date.now() - freed).toBeLessThan(10_000);
        await waitLogged(
          daemon,
          () =>
            readdirSync(join(scratch, 'outbox'), { recursive: true }).filter((f) => String(f).endsWith('.dcm'))
              .length === big.sops.length,
          'the big series delivered',
          60_000,
        );
        // Delivered and verified in its final project: its originals leave the spool.
        const db = new Database(join(dataDir, 'gateway.db'), { readonly: true });
        try {
          await waitFor(
            () => db.prepare(`SELECT count(*) FROM spool_originals WHERE state = 'removed'`).pluck().get() === 1,
            'originals removed',
            10_000,
          );
          const held = new Set(db.prepare('SELECT sop_instance_uid FROM instances').pluck().all() as string[]);
          expect(big.sops.filter((s) => !held.has(s))).toEqual([]);
        } finally {
          db.close();
        }
        const spooled = readdirSync(join(dataDir, 'spool'), { recursive: true, withFileTypes: true }).filter(
          (e) => e.isFile() && e.name.endsWith('.dcm'),
        );
        expect(spooled.filter((e) => readFileSync(join(e.parentPath, e.name)).length > 0)).toEqual([]);
      } finally {
        sampler.stop();
        await daemon.stop('SIGTERM');
      }
    });
  });
});
