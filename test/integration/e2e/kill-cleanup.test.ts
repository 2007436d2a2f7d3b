// What a killed or stopped daemon leaves on disk. SIGKILL in the middle of a delivery: after the
// restart no work directory (a de-identified, or under profile none identifiable, copy) and no temp
// file in the outbox remain, and once delivered the originals leave the spool (or stay, capped, in
// keep mode). SIGTERM while a large zip is being unpacked: the daemon stops at once, and the drop
// is read whole after the restart.
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { encodeInstance, newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { rawZip } from '../../helpers/raw-zip.ts';
import { freePort, spawnLogged, type LoggedProcess } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const root = new URL('../../../', import.meta.url).pathname;

/** Files (not directories) below `dir`, recursively; [] when it does not exist. */
function filesUnder(dir: string): string[] {
  if (!existsSync(dir)) {return [];}
  return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name));
}
/** Stops `pid` and resolves once every one of its threads is stopped (state T in /proc). */
async function frozen(pid: number): Promise<void> {
  process.kill(pid, 'SIGSTOP');
  const stopped = (): boolean => readdirSync(`/proc/${String(pid)}/task`).every((t) => {
    try {
      return /^\d+ \(.*\) [Tt] /.test(readFileSync(`/proc/${String(pid)}/task/${t}/stat`, 'utf8'));
    } catch {
      return true; // a thread that ended in between
    }
  });
  await waitFor(stopped, 'the daemon stopped by SIGSTOP', 5000, 1);
}
const written = (dir: string): string[] => filesUnder(dir).filter((f) => statSync(f).size > 0);

describe('what a killed or stopped daemon leaves behind', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-kill-'));
  afterAll(() => { rmSync(scratch, { recursive: true, force: true }); });

  async function daemonWith(name: string, extra: string[]): Promise<{ dataDir: string; outbox: string; http: string; start: () => LoggedProcess; ready: () => Promise<void>; db: (sql: string) => unknown }> {
    const dataDir = join(scratch, name, 'data');
    const outbox = join(scratch, name, 'outbox');
    const httpPort = await freePort();
    const configFile = join(scratch, name, 'gateway.yaml');
    mkdirSync(join(scratch, name), { recursive: true });
    // `extra` lines replace the default line of the same top-level key.
    const lines = new Map([
      `dataDir: ${dataDir}`, 'dimse: { enabled: false }', `http: { port: ${String(httpPort)} }`, 'spool: { minFreeBytes: 0 }',
      'series: { quietPeriodMs: 300, checkIntervalMs: 100 }', 'workers: { pollIntervalMs: 100 }', `sinks: [{ type: folder, path: ${outbox} }]`,
      ...extra,
    ].map((l) => [l.slice(0, l.indexOf(':')), l]));
    writeFileSync(configFile, `${[...lines.values()].join('\n')}\n`);
    return {
      dataDir, outbox, http: `http://127.0.0.1:${String(httpPort)}`,
      start: () => spawnLogged(process.execPath, [join(root, 'src/cli/main.ts'), 'run', '--config', configFile], { cwd: root }),
      // /readyz answers before the import folder is watched: wait for its directory too.
      ready: () => waitFor(async () => existsSync(join(dataDir, 'import')) && await fetch(`http://127.0.0.1:${String(httpPort)}/readyz`).then((r) => r.ok, () => false), 'daemon ready', 20_000),
      db: (sql: string): unknown => {
        const d = new Database(join(dataDir, 'gateway.db'), { readonly: true });
        try {
          return d.prepare(sql).pluck().get();
        } finally {
          d.close();
        }
      },
    };
  }

  for (const mode of ['remove', 'keep'] as const) {
    it(`SIGKILL during delivery: no work directory or outbox temp file after the restart; delivered originals ${mode === 'remove' ? 'removed' : 'kept within the cap'}`, async () => {
      const g = await daemonWith(`kill-${mode}`, [
        'folder: { stableMs: 200, rescanIntervalMs: 100, readyMarker: .ready }', 'anonymise: { profile: none }',
        ...(mode === 'keep' ? ['spool: { minFreeBytes: 0, retainDelivered: { mode: keep, maxBytes: 1073741824 } }'] : []),
      ]);
      // 150 instances of 512 KiB: the outbox copy takes long enough to be killed in the middle.
      const stage = join(scratch, `kill-${mode}`, 'stage', 'study');
      await writeSeries(join(stage, 'ct'), { count: 150, rows: 512, columns: 512, studyInstanceUid: newUid(), seriesInstanceUid: newUid() });
      writeFileSync(join(stage, '.ready'), '');
      let daemon = g.start();
      try {
        await g.ready();
        renameSync(stage, join(g.dataDir, 'import', 'study'));
        const partial = join(g.outbox, '.partial');
        const temps = (): string[] => filesUnder(g.outbox).filter((f) => f.endsWith('.tmp'));
        // Killed while a copy is in progress: frozen first (SIGSTOP, every thread stopped), so the
        // temp file seen is still there when SIGKILL lands; thawed and watched again if the copy
        // finished between the look and the freeze.
        const pid = daemon.child.pid ?? 0;
        await waitFor(async () => {
          if (temps().length === 0) {return false;}
          await frozen(pid);
          if (temps().length === 0) {
            process.kill(pid, 'SIGCONT');
            return false;
          }
          return daemon.child.kill('SIGKILL');
        }, 'a delivery copying into the outbox', 60_000, 1);
        await daemon.exited;
        // What the kill left: the job's work copy and a temp file in the outbox.
        expect(filesUnder(join(g.dataDir, 'work')).length).toBeGreaterThan(0);
        expect(temps().length).toBeGreaterThan(0);

        daemon = g.start();
        await g.ready();
        // Swept before anything runs again.
        expect(daemon.output()).toMatch(/Removed what a killed process left in the work directory/);
        expect(daemon.output()).toMatch(/Removed temp files a killed delivery left in the outbox/);
        await waitFor(() => g.db(`SELECT state FROM series LIMIT 1`) === 'delivered', 'delivered after the restart', 60_000);
        await waitFor(() => g.db('SELECT count(*) FROM spool_originals') === 1, 'originals settled', 10_000);
        expect(filesUnder(join(g.dataDir, 'work'))).toEqual([]);
        expect(temps()).toEqual([]);
        expect(filesUnder(partial)).toEqual([]);
        expect(filesUnder(g.outbox).filter((f) => f.endsWith('.dcm'))).toHaveLength(150);
        if (mode === 'remove') {
          expect(written(join(g.dataDir, 'spool'))).toEqual([]);
          expect(g.db(`SELECT state || ':' || reason FROM spool_originals`)).toBe('removed:delivered');
        } else {
          expect(written(join(g.dataDir, 'spool'))).toHaveLength(150);
          expect(g.db(`SELECT state || ':' || reason FROM spool_originals`)).toBe('retained:delivered');
        }
        const status = await (await fetch(`${g.http}/status`)).json() as { spool: { holding: Record<string, { series: number } | undefined> } };
        expect(status.spool.holding.retained?.series).toBe(mode === 'keep' ? 1 : 0);
      } finally {
        await daemon.stop('SIGTERM');
      }
    });
  }

  it('SIGTERM while a large zip is unpacked stops at once; after the restart the drop is read whole', async () => {
    const g = await daemonWith('zip-stop', ['folder: { stableMs: 200, rescanIntervalMs: 100 }']);
    // 40 instances and 12,000 small notes: unpacking takes seconds (one file per entry), which the
    // stop used to wait out. The notes are not DICOM: the zip ends in rejected/ beside rejected.json.
    const study = newUid();
    const series = newUid();
    const dicom = Array.from({ length: 40 }, (_, i) => ({ name: `ct/${String(i + 1)}.dcm`, data: encodeInstance({ studyInstanceUid: study, seriesInstanceUid: series, instanceNumber: i + 1 }).bytes }));
    const notes = Array.from({ length: 12_000 }, (_, i) => ({ name: `notes/${String(i)}.txt`, data: Buffer.from(`note ${String(i)}\n`.repeat(20)) }));
    const stage = join(scratch, 'zip-stop', 'stage');
    mkdirSync(join(stage, 'export'), { recursive: true });
    writeFileSync(join(stage, 'export', 'export.zip'), rawZip([...dicom, ...notes]));
    let daemon = g.start();
    try {
      await g.ready();
      renameSync(join(stage, 'export'), join(g.dataDir, 'import', 'export'));
      await waitFor(() => filesUnder(join(g.dataDir, 'work', 'folder')).length > 100, 'unpacking under way', 60_000, 2);
      const t0 = Date.now();
      expect(await daemon.stop('SIGTERM', 30_000)).toBe(0);
      expect(Date.now() - t0, daemon.output().slice(-2000)).toBeLessThan(2000);
      // Nothing of it was recorded as read: it is unpacked again from the start.
      expect(g.db(`SELECT count(*) FROM folder_files WHERE rel_path = 'export.zip'`)).toBe(0);

      daemon = g.start();
      await g.ready();
      await waitFor(() => existsSync(join(g.dataDir, 'rejected', 'export', 'rejected.json')), 'the drop read whole after the restart', 120_000);
      // rejected.json is written before the drop is marked released: wait for the mark.
      await waitFor(() => g.db(`SELECT state FROM folder_drops ORDER BY id DESC LIMIT 1`) === 'released', 'the drop released', 10_000);
      expect(g.db('SELECT count(*) FROM instances')).toBe(40);
      expect(filesUnder(join(g.dataDir, 'work', 'folder'))).toEqual([]);
    } finally {
      await daemon.stop('SIGTERM');
    }
  });
});
