// Import-folder benchmark: how fast a drop dropped into the watched import folder is durably
// ingested (every file fsynced into the spool and committed to SQLite, then the drop moved to
// <dataDir>/processed/), against the same data pushed over C-STORE with DCMTK storescu (one
// association, exactly as bench/ingest.ts), each into a fresh gateway in the same run.
// Prints figures; asserts nothing. Run it on an otherwise idle machine.
//   ./gateway npm run bench:folder -- [--ct 1000] [--small 5000] [--fmri 0] [--concurrency N] [--cpu-prof DIR]
//   ./gateway node bench/folder-ingest.ts [same options]
//
// Data sets, generated once into a temporary directory: --ct N CT-like files of 512×512 16-bit
// (~526 KB each) and --small N files of 64×64 (~9 KB), one series each; --fmri N tiny files
// (16×16) in one drop, folder path only, to show memory stays bounded for an fMRI-sized session.
//
// Folder path: the gateway runs with `folder: { mode: events, stableMs: 0, readyMarker: .ready,
// rescanIntervalMs: 200 }` (plus `concurrency: N` when --concurrency is given; otherwise the
// config default). The data set is copied (cp -r, untimed, then `sync`) into a staging folder on
// the same file system as the import folder, a `.ready` marker is written into it, and it is
// renamed into the import folder: t0 is that rename (the marker makes the drop ready at once).
// The drop's ledger row (folder_drops, read from the gateway's SQLite database opened read-only,
// polled every 50 ms) gives the end: state 'released' with files_spooled = the file count. The
// reported time is released_at − t0 (the gateway's own millisecond clock, so the poll interval
// does not blur it); it is split into detection (rename → started_at: the watcher's hint or the
// 200 ms rescan, then the scan) and read + spool + release (started_at → released_at). "All
// spooled" is the last folder instance's received_at (every file durable and committed); the rest
// up to released_at is the release (the drop's files moved to processed/).
// C-STORE path: `storescu -pdu 131072 +sd +r -aec XNAT 127.0.0.1 <port> <dir>`, timed from spawn
// to exit (every response is sent after the instance is durable).
// Both gateways are spawned as `npm start` runs them (--max-semi-space-size=32), with the series
// quiet period longer than the run (we measure ingest, not delivery) and log level warn. Peak RSS
// is the gateway's VmHWM from /proc/<pid>/status just before it is stopped.
// --cpu-prof DIR adds `--cpu-prof --cpu-prof-dir=DIR` to every gateway (a .cpuprofile per gateway,
// written when it exits; open it in Chrome DevTools or speedscope).
import Database from 'better-sqlite3';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { writeSeries } from '../test/helpers/dicom-factory.ts';
import { freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../test/helpers/peers.ts';

const { values } = parseArgs({
  options: {
    ct: { type: 'string', default: '1000' },
    small: { type: 'string', default: '5000' },
    concurrency: { type: 'string' },
    fmri: { type: 'string', default: '0' },
    'cpu-prof': { type: 'string' },
  },
});
const root = new URL('../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'xg-bench-folder-'));
const PDU = '131072';
const POLL_MS = 50;
const TIMEOUT_MS = 3_600_000;
const concurrency = values.concurrency === undefined ? undefined : Number(values.concurrency);
const cpuProfDir = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
/** Everything started, stopped at the end whatever happens. */
const running = new Set<LoggedProcess>();

/** Peak resident set of a running process (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

interface DataSet {
  readonly label: string;
  readonly dir: string;
  readonly files: number;
  readonly mb: number;
}

interface Result {
  readonly set: string;
  readonly path: 'folder' | 'C-STORE';
  readonly seconds: number;
  readonly files: number;
  readonly mb: number;
  readonly rssMb: number;
  /** Folder path only, seconds: rename → started_at, started_at → released_at, and the last instance committed → released_at. */
  readonly detectSeconds?: number;
  readonly readSeconds?: number;
  readonly releaseSeconds?: number;
}

interface Gateway {
  readonly proc: LoggedProcess;
  readonly port: number;
  readonly http: number;
  readonly dataDir: string;
}

interface StatusDoc {
  importFolder: { lastScanAt: number | null } | null;
}

/** Fresh gateway with its own data directory; resolves once DIMSE listens and the import folder had its first scan. */
async function startGateway(name: string): Promise<Gateway> {
  const [port, http] = [await freePort(), await freePort()];
  const dataDir = join(work, `${name}-data`);
  const config = join(work, `${name}.yaml`);
  const folder = `{ mode: events, stableMs: 0, readyMarker: '.ready', rescanIntervalMs: 200${concurrency === undefined ? '' : `, concurrency: ${String(concurrency)}`} }`;
  writeFileSync(
    config,
    `dataDir: ${dataDir}\ndimse: { port: ${String(port)}, maxPduBytes: ${PDU} }\nhttp: { port: ${String(http)} }\n` +
      `series: { quietPeriodMs: 3600000 }\nlog: { level: warn }\nspool: { minFreeBytes: 0 }\nfolder: ${folder}\n`,
  );
  const prof =
    cpuProfDir === undefined
      ? []
      : ['--cpu-prof', `--cpu-prof-dir=${cpuProfDir}`, `--cpu-prof-name=${name}.cpuprofile`];
  // Same flags as `npm start` and the container.
  const proc = spawnLogged(
    process.execPath,
    ['--max-semi-space-size=32', ...prof, join(root, 'src/cli/main.ts'), 'run', '--config', config],
    { cwd: root },
  );
  running.add(proc);
  const fail = (why: string): Error => new Error(`${name}: ${why}\n${proc.output()}`);
  const exited = proc.exited.then((code) => {
    throw fail(`exited with code ${String(code)} while starting`);
  });
  await Promise.race([waitForPort(port, '127.0.0.1', 20_000), exited]).catch((err: unknown) => {
    throw err instanceof Error && err.message.startsWith(name) ? err : fail(String(err));
  });
  exited.catch(() => undefined);
  // The folder source starts after the DICOM receiver: wait for its first scan.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const res = await fetch(`http://127.0.0.1:${String(http)}/status`).catch(() => null);
    if (res?.ok) {
      const doc = (await res.json()) as StatusDoc;
      if (doc.importFolder?.lastScanAt != null) {
        break;
      }
    }
    if (Date.now() > deadline || proc.child.exitCode !== null) {
      throw fail('the import folder was not watched within 20 s');
    }
    await sleep(POLL_MS);
  }
  return { proc, port, http, dataDir };
}

async function stopGateway(gw: Gateway): Promise<void> {
  await gw.proc.stop();
  running.delete(gw.proc);
}

/** Instances the gateway committed from `source`, and when the last one was, read from its database (read-only). */
function instancesFrom(gw: Gateway, source: 'dimse' | 'folder'): { count: number; lastAt: number | null } {
  const db = new Database(join(gw.dataDir, 'gateway.db'), { readonly: true, fileMustExist: true });
  try {
    const r = db
      .prepare('SELECT count(*) AS n, max(received_at) AS last FROM instances WHERE source = ?')
      .get(source) as { n: number; last: number | null };
    return { count: r.n, lastAt: r.last };
  } finally {
    db.close();
  }
}

interface DropRow {
  state: string;
  files_spooled: number;
  files_rejected: number;
  files_total: number;
  started_at: number;
  released_at: number | null;
}

async function measureFolder(set: DataSet): Promise<Result> {
  const gw = await startGateway(`folder-${set.label}`);
  try {
    const staging = join(work, `staging-${set.label}`);
    const importDir = join(gw.dataDir, 'import');
    // Untimed: the copy, its marker, and flushing it so its write-back does not compete with the run.
    const cp = await run('cp', ['-r', set.dir, staging], { timeoutMs: TIMEOUT_MS });
    if (cp.code !== 0) {
      throw new Error(`cp -r failed: ${cp.stderr}`);
    }
    writeFileSync(join(staging, '.ready'), '');
    await run('sync', []);
    const db = new Database(join(gw.dataDir, 'gateway.db'), { readonly: true, fileMustExist: true });
    const latest = db.prepare(
      'SELECT state, files_spooled, files_rejected, files_total, started_at, released_at FROM folder_drops ORDER BY id DESC LIMIT 1',
    );
    try {
      const renameAt = Date.now();
      renameSync(staging, join(importDir, `drop-${set.label}`));
      const deadline = renameAt + TIMEOUT_MS;
      let row: DropRow | undefined;
      for (;;) {
        row = latest.get() as DropRow | undefined;
        if (row?.state === 'released') {
          break;
        }
        if (gw.proc.child.exitCode !== null) {
          throw new Error(`the gateway exited during the folder run\n${gw.proc.output()}`);
        }
        if (Date.now() > deadline) {
          throw new Error(
            `the drop was not released within ${String(TIMEOUT_MS / 1000)} s (last row: ${JSON.stringify(row)})`,
          );
        }
        await sleep(POLL_MS);
      }
      if (row.files_spooled !== set.files || row.released_at === null) {
        throw new Error(
          `drop released with ${String(row.files_spooled)} of ${String(set.files)} files spooled (${String(row.files_rejected)} rejected)\n${gw.proc.output()}`,
        );
      }
      const committed = instancesFrom(gw, 'folder');
      if (committed.count !== set.files) {
        throw new Error(`${String(committed.count)} folder instances committed, expected ${String(set.files)}`);
      }
      return {
        set: set.label,
        path: 'folder',
        files: set.files,
        mb: set.mb,
        seconds: (row.released_at - renameAt) / 1000,
        detectSeconds: (row.started_at - renameAt) / 1000,
        readSeconds: (row.released_at - row.started_at) / 1000,
        releaseSeconds: (row.released_at - (committed.lastAt ?? row.released_at)) / 1000,
        rssMb: peakRssMb(gw.proc.child.pid),
      };
    } finally {
      db.close();
    }
  } finally {
    await stopGateway(gw);
  }
}

async function measureCStore(set: DataSet): Promise<Result> {
  const gw = await startGateway(`cstore-${set.label}`);
  try {
    await run('sync', []);
    const t0 = process.hrtime.bigint();
    const r = await run('storescu', ['-pdu', PDU, '+sd', '+r', '-aec', 'XNAT', '127.0.0.1', String(gw.port), set.dir], {
      timeoutMs: TIMEOUT_MS,
    });
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    if (r.code !== 0) {
      throw new Error(`storescu failed: ${r.stderr.slice(-2000)}`);
    }
    const rssMb = peakRssMb(gw.proc.child.pid);
    const committed = instancesFrom(gw, 'dimse').count;
    if (committed !== set.files) {
      throw new Error(`${String(committed)} C-STORE instances committed, expected ${String(set.files)}`);
    }
    return { set: set.label, path: 'C-STORE', seconds, files: set.files, mb: set.mb, rssMb };
  } finally {
    await stopGateway(gw);
  }
}

async function generate(label: string, count: number, size: number): Promise<DataSet> {
  const dir = join(work, label);
  await writeSeries(dir, { count, rows: size, columns: size });
  let bytes = 0;
  for (const f of readdirSync(dir)) {
    bytes += statSync(join(dir, f)).size;
  }
  return { label, dir, files: count, mb: bytes / 1e6 };
}

function print(rows: readonly Result[]): void {
  const fmt = (n: number, digits: number): string => n.toFixed(digits);
  console.log('\n| set | path | seconds | files/s | MB/s | peak RSS MB | folder ÷ C-STORE |');
  console.log('|---|---|---|---|---|---|---|');
  for (const r of rows) {
    const cstore = rows.find((c) => c.set === r.set && c.path === 'C-STORE');
    const ratio = r.path === 'folder' && cstore ? `${fmt(cstore.seconds / r.seconds, 2)}×` : '';
    console.log(
      `| ${r.set} | ${r.path} | ${fmt(r.seconds, 2)} | ${fmt(r.files / r.seconds, 1)} | ${fmt(r.mb / r.seconds, 1)} | ${fmt(r.rssMb, 0)} | ${ratio} |`,
    );
  }
  console.log('\nfolder ÷ C-STORE: folder files/s ÷ C-STORE files/s (above 1: the import folder is faster).');
  for (const r of rows) {
    if (r.detectSeconds !== undefined && r.readSeconds !== undefined && r.releaseSeconds !== undefined) {
      const spooled = r.seconds - r.releaseSeconds;
      console.log(
        `${r.set} folder: rename → drop started ${fmt(r.detectSeconds, 2)} s; started → released (read, spool, release) ${fmt(r.readSeconds, 2)} s = ` +
          `${fmt(r.files / r.readSeconds, 1)} files/s, ${fmt(r.mb / r.readSeconds, 1)} MB/s; ` +
          `rename → all spooled (last instance committed) ${fmt(spooled, 2)} s = ${fmt(r.files / spooled, 1)} files/s; release (move to processed/) ${fmt(r.releaseSeconds, 2)} s`,
      );
    }
  }
}

async function main(): Promise<void> {
  const ctCount = Number(values.ct);
  const smallCount = Number(values.small);
  const fmriCount = Number(values.fmri);
  if (cpuProfDir !== undefined) {
    mkdirSync(cpuProfDir, { recursive: true });
  }
  console.log(`Generating ${String(ctCount)} CT 512×512 and ${String(smallCount)} 64×64 instances in ${work} ...`);
  const sets: DataSet[] = [];
  if (ctCount > 0) {
    sets.push(await generate('ct', ctCount, 512));
  }
  if (smallCount > 0) {
    sets.push(await generate('small', smallCount, 64));
  }
  // An fMRI-sized drop (e.g. --fmri 40000 tiny files): import folder only, for time and peak RSS.
  if (fmriCount > 0) {
    sets.push(await generate('fmri', fmriCount, 16));
  }
  console.log(`folder.concurrency: ${concurrency === undefined ? 'default' : String(concurrency)}`);
  const rows: Result[] = [];
  for (const set of sets) {
    console.log(
      `${set.label}: ${String(set.files)} files, ${set.mb.toFixed(1)} MB (${((set.mb * 1000) / set.files).toFixed(0)} KB each)`,
    );
    rows.push(await measureFolder(set));
    if (set.label !== 'fmri') {
      rows.push(await measureCStore(set));
    }
  }
  print(rows);
}

async function cleanUp(): Promise<void> {
  await Promise.all([...running].map((p) => p.stop()));
  rmSync(work, { recursive: true, force: true });
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanUp().finally(() => process.exit(130));
  });
}

let failed = false;
try {
  await main();
} catch (err) {
  console.error(err);
  failed = true;
} finally {
  await cleanUp();
}
if (failed) {
  process.exit(1);
}
