// De-identification benchmark: our engine (the PS3.15 Basic profile, one worker) against GDCM's
// gdcmanon (Debian libgdcm-tools, PS3.15 E.1 Basic Application Level Confidentiality Profile) on
// the same generated files, in the same run. Prints figures; asserts nothing about speed.
//   ./gateway npm run bench:anonymise -- [--count 1000] [--runs 4] [--regime fresh|reuse] [--out-dir DIR] [--cpu-prof DIR]
//   ./gateway node bench/anonymise.ts [same options]
//
// Data: --count CT instances of 512×512 16-bit (~530 KB each), explicit VR little endian, one
// series, written once into a temporary directory with a realistic header (patient name, ID,
// birth date, age, size and weight, other patient IDs, institution and address, referring,
// performing, requesting physicians and operator, dates and times, accession number, study ID,
// device serial number, protocol, procedure code, referenced study and image sequences, and two
// private blocks with their creators).
//
// Rows, each a separate process so its peak RSS is its own, each run `--runs` times; the table
// shows the median run. Run orders follow a Williams Latin square: over every 4 runs each tool
// runs first once and directly after each other tool once. What a tool leaves behind (a process
// exit frees its memory, a deletion frees page cache) changes the next tool's costs on this VM;
// a plain rotation kept the same predecessor for every tool in every run. Use a multiple of 4.
// `sync` runs (untimed) just before each tool's measured work: before an external command is
// spawned, and for the engine child after its start-up and warm-up (it prints "ready" and waits
// for "go"). The warm-up's output goes to tmpfs and is removed before "ready" (see engineChild).
// --regime fresh (default): every run writes into a new directory; all are deleted at the end
//   (needs count × 0.53 MB × 4 tools × runs of disk, ~10 GB for 1,000 × 5).
// --regime reuse: one output directory, emptied just before each tool's measured work. Creating
//   files soon after deleting others costs more on some filesystems (ext4 without a journal scans
//   past inodes freed in the last minutes), so later runs pay for earlier runs' deletions; and on
//   VMs that hand freed memory back to the host (free page reporting), how soon a tool writes
//   after the deletion changes the cost of its page cache. Both hit every tool, unevenly.
// --out-dir DIR: write the outputs under a new directory in DIR instead of the temporary work
//   directory, e.g. /dev/shm to take the disk's filesystem out of the comparison.
// Rows:
// - engine: `anonymiseSeries` (src/transforms/anonymise/series.ts) over the series in a child
//   Node process started with the daemon's flags (--max-semi-space-size=32), with a fresh data
//   directory (SQLite ledger, project key), default config (profile basic), no script. The time
//   is the call only (read, de-identify, write, verify every output header, record the UID map);
//   the inputs are sniffed before it, untimed (the daemon's transform does the same before the
//   call: it reads the head of each spool file for the dataset offset). Peak RSS is
//   the child's own `process.resourceUsage().maxRSS`.
// - CLI: `node src/cli/main.ts anonymise IN OUT` with XNAT_GATEWAY_DATA_DIR set to a fresh
//   directory, end to end (Node start-up, listing, sniffing, grouping, the engine, moving the
//   files into project/subject/session/series/).
// - gdcmanon -e: `gdcmanon -e -c cert.pem --aes256 -i IN -o OUT` (directory mode: one process for
//   the whole folder; a process per file pays start-up and certificate loading every time). The
//   certificate is a throw-away self-signed RSA 2048 one made with openssl.
// - gdcmanon --dumb: six tag edits (empty PatientName and PatientID, remove birth date,
//   institution, referring physician and accession number), no profile and no encryption: GDCM's
//   read + write floor, not a de-identification.
// External commands are timed from spawn to exit and run under GNU time (`/usr/bin/time -f
// '%e %U %S %M'`), whose %M is the peak RSS (getrusage ru_maxrss) of the command.
// --cpu-prof DIR adds `--cpu-prof --cpu-prof-dir=DIR` to the engine child (one .cpuprofile a run).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { availableParallelism, cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { newUid, writeSeries, type Element } from '../test/helpers/dicom-factory.ts';

const { values, positionals } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '4' },
    /** fresh: every run writes a new directory, all deleted at the end; reuse: one directory, emptied before each run. */
    regime: { type: 'string', default: 'fresh' },
    /** Where the outputs go (a new directory inside it); default the temporary work directory. */
    'out-dir': { type: 'string' },
    'cpu-prof': { type: 'string' },
    /** Internal: run the engine over IN into OUT with data directory DATA, print JSON. */
    'engine-child': { type: 'boolean', default: false },
  },
  allowPositionals: true,
});
const root = new URL('../', import.meta.url).pathname;
const TIME = '/usr/bin/time';
/** After the engine's warm-up: longer than the kernel's free page reporting delay (2 s). */
const WARM_SETTLE_MS = 3000;
const PATIENT_NAME = 'DOE^JANE^MARIE';
const PATIENT_ID = 'MRN4711081';

interface Measured {
  /** Wall seconds of the measured work. */
  readonly seconds: number;
  /** User + system CPU seconds. */
  readonly cpuSeconds: number;
  readonly rssMb: number;
  /** Engine only: the longest the event loop went without a turn during the call. */
  readonly loopGapMs?: number;
}

// ---------------------------------------------------------------------------------------------
// Child: the engine in its own process.

async function engineChild(inDir: string, outDir: string, dataDir: string): Promise<void> {
  const { buildConfig } = await import('../src/config/load.ts');
  const { settingsFor } = await import('../src/transforms/anonymise/config.ts');
  const { loadOrCreateKey } = await import('../src/transforms/anonymise/keys.ts');
  const { openDb } = await import('../src/store/sqlite/db.ts');
  const { createPseudonymLedger } = await import('../src/store/sqlite/pseudonyms.ts');
  const { sqliteUnitOfWork } = await import('../src/store/sqlite/turns.ts');
  const { sniffFile } = await import('../src/dicom/sniff.ts');
  const { anonymiseSeries } = await import('../src/transforms/anonymise/series.ts');
  const { createIoThreads } = await import('../src/dicom/io-thread.ts');
  const cfg = buildConfig({ dataDir }, {}, dataDir);
  const project = cfg.route.hospitalProject;
  const settings = settingsFor(cfg.anonymise, project);
  const db = openDb(join(dataDir, 'gateway.db'));
  // As the daemon's transform: I/O threads owned by the caller, the warm-up's kept for the timed run.
  const io = createIoThreads();
  try {
    const ledger = createPseudonymLedger(db);
    const uow = sqliteUnitOfWork(db);
    const { key } = await loadOrCreateKey(join(dataDir, 'keys'), project);
    const t0 = process.hrtime.bigint();
    const inputs = [];
    for (const name of readdirSync(inDir).sort()) {
      const path = join(inDir, name);
      const s = await sniffFile(path);
      if (s.kind !== 'part10') {
        throw new Error(`${path}: not a Part 10 file (${s.kind})`);
      }
      // The daemon's transform has each file's size from the spool's record; here from stat.
      inputs.push({
        path,
        datasetOffset: s.datasetOffset,
        transferSyntaxUid: s.transferSyntaxUid,
        size: statSync(path).size,
      });
    }
    const tSniffed = process.hrtime.bigint();
    // A daemon's worker is warm: it has de-identified series before, so its hot paths are
    // compiled (V8 optimises a function only after many calls, and meanwhile compiles on a second
    // thread) and the dictionary and tables are loaded. So one untimed series of the same size
    // first, under its own project so the timed run still assigns labels. It must leave the
    // machine as it found it for the timed run: its output goes to tmpfs (no inodes of the output
    // filesystem created or freed, which a later creation there would pay for; see the regimes
    // above) and is removed at once, and the child then waits WARM_SETTLE_MS, longer than the
    // kernel's free page reporting delay (2 s), so the memory it used is back with the host like
    // any other free memory. Kept, or written to the disk, its 0.53 GB took the free pages the
    // timed run would otherwise get, and only the engine's runs paid for that.
    const shm = existsSync('/dev/shm');
    if (!shm) {
      mkdirSync(dirname(outDir), { recursive: true });
    }
    const warmDir = shm ? mkdtempSync('/dev/shm/xnatgw-bench-warm-') : mkdtempSync(`${outDir}-warm-`);
    const { key: warmKey } = await loadOrCreateKey(join(dataDir, 'keys'), `${project}_WARM`);
    await anonymiseSeries(inputs, warmDir, {
      settings: { ...settings, project: `${project}_WARM` },
      key: warmKey,
      ledger,
      uow,
      script: null,
      now: () => Date.now(),
      io,
    });
    if (shm) {
      rmSync(warmDir, { recursive: true, force: true });
      await new Promise((r) => setTimeout(r, WARM_SETTLE_MS));
    }
    // The parent clears the previous run's output now, as it does just before starting any other
    // tool, so every tool's measured work starts right after that deletion and sync (see header).
    process.stdout.write('ready\n');
    await new Promise<void>((go) => {
      process.stdin.once('data', () => {
        go();
      });
    });
    process.stdin.destroy();
    mkdirSync(outDir, { recursive: true });
    // How long the event loop (C-STORE responses, the status server) waits at worst meanwhile: the
    // longest gap between turns of a 1 ms timer, the end of the call included (a loop blocked for
    // the whole call never runs the timer at all).
    const t1 = process.hrtime.bigint();
    let lastTurn = t1;
    let longestGap = 0n;
    const turn = (): void => {
      const now = process.hrtime.bigint();
      if (now - lastTurn > longestGap) {
        longestGap = now - lastTurn;
      }
      lastTurn = now;
    };
    const ticker = setInterval(turn, 1);
    const cpu0 = process.cpuUsage();
    const outcome = await anonymiseSeries(inputs, outDir, {
      settings,
      key,
      ledger,
      uow,
      script: null,
      now: () => Date.now(),
      io,
    });
    const cpu = process.cpuUsage(cpu0);
    turn();
    clearInterval(ticker);
    const t2 = process.hrtime.bigint();
    const result = {
      sniffSeconds: Number(tSniffed - t0) / 1e9,
      seconds: Number(t2 - t1) / 1e9,
      cpuSeconds: (cpu.user + cpu.system) / 1e6,
      userSeconds: cpu.user / 1e6,
      systemSeconds: cpu.system / 1e6,
      rssMb: process.resourceUsage().maxRSS / 1024,
      loopGapMs: Number(longestGap) / 1e6,
      outcome: outcome.kind,
      detail: outcome.kind === 'done' ? `${String(outcome.instances.length)} instances` : outcome.reason,
    };
    process.stdout.write(`${JSON.stringify(result)}\n`);
  } finally {
    await io.close();
    db.close();
  }
}

// ---------------------------------------------------------------------------------------------
// Parent: data, runs, table.

/**
 * Row `run` (mod n) of a Williams Latin square for an even `n`: 0, 1, n-1, 2, n-2, … shifted by
 * the row. Over n rows every index comes first once and directly follows every other index once.
 */
function balancedOrder(n: number, run: number): number[] {
  const base: number[] = [0];
  for (let k = 1; base.length < n; k++) {
    base.push(k);
    if (base.length < n) {
      base.push(n - k);
    }
  }
  return base.map((b) => (b + run) % n);
}

interface Exec {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs `cmd`; with `onReady`, the child's "ready" line is answered with "go" once onReady has settled. */
function exec(
  cmd: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  onReady?: () => Promise<void>,
): Promise<Exec> {
  return new Promise((done, fail) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { cwd: root, env, stdio: 'pipe' });
    if (!onReady) {
      child.stdin.end();
    }
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      stdout += d;
      if (onReady && stdout.includes('ready\n')) {
        const ready = onReady;
        onReady = undefined;
        ready().then(() => child.stdin.end('go\n'), fail);
      }
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.once('error', fail);
    child.once('close', (code) => {
      done({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - t0) / 1e9 });
    });
  });
}

/** Runs `cmd` under GNU time: wall seconds from spawn to exit, CPU seconds and peak RSS of the command. */
async function timed(work: string, cmd: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<Measured> {
  const out = join(work, 'time.txt');
  const r = await exec(TIME, ['-f', '%e %U %S %M', '-o', out, cmd, ...args], env);
  if (r.code !== 0) {
    throw new Error(
      `${cmd} ${args.join(' ')} exited with ${String(r.code)}:\n${r.stdout.slice(-2000)}${r.stderr.slice(-2000)}`,
    );
  }
  const [, user, sys, maxKb] = readFileSync(out, 'utf8').trim().split('\n').at(-1)?.split(' ').map(Number) ?? [];
  return { seconds: r.seconds, cpuSeconds: (user ?? NaN) + (sys ?? NaN), rssMb: (maxKb ?? NaN) / 1024 };
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) {
      out.push(...filesUnder(p));
    } else if (e.isFile()) {
      out.push(p);
    }
  }
  return out.sort();
}

/** Every input produced one output file, and the first holds neither the patient's name nor ID (header bytes, latin1). */
function checkOutput(tool: string, dir: string, count: number, identifiersGone: boolean): void {
  const files = filesUnder(dir).filter((f) => !f.endsWith('.partial'));
  if (files.length !== count) {
    throw new Error(`${tool}: ${String(files.length)} files written, expected ${String(count)}`);
  }
  const first = files[0];
  if (identifiersGone && first !== undefined) {
    const head = readFileSync(first)
      .subarray(0, 64 * 1024)
      .toString('latin1');
    for (const v of [PATIENT_NAME, PATIENT_ID]) {
      if (head.includes(v)) {
        throw new Error(`${tool}: ${first} still holds an original identifier`);
      }
    }
  }
}

/** The header of a scanner-written CT image: the identifying attributes a real export carries. */
function realisticHeader(): Element[] {
  const procedureCode: Element[] = [
    { tag: 0x00080100, vr: 'SH', value: 'CTHEAD' },
    { tag: 0x00080102, vr: 'SH', value: 'L' },
    { tag: 0x00080104, vr: 'LO', value: 'CT HEAD WITHOUT CONTRAST' },
  ];
  return [
    { tag: 0x00080012, vr: 'DA', value: '20240101' },
    { tag: 0x00080013, vr: 'TM', value: '120512.123456' },
    { tag: 0x00080022, vr: 'DA', value: '20240101' },
    { tag: 0x0008002a, vr: 'DT', value: '20240101120503.250000' },
    { tag: 0x00080032, vr: 'TM', value: '120503.250000' },
    { tag: 0x00080080, vr: 'LO', value: 'St Elsewhere General Hospital' },
    { tag: 0x00080081, vr: 'ST', value: '1 Hospital Road, Springfield, SP1 2AB' },
    { tag: 0x00080090, vr: 'PN', value: 'HOUSE^GREGORY^^DR' },
    { tag: 0x00081010, vr: 'SH', value: 'CTROOM01' },
    { tag: 0x00081032, vr: 'SQ', items: [procedureCode] },
    { tag: 0x00081040, vr: 'LO', value: 'Radiology' },
    { tag: 0x00081050, vr: 'PN', value: 'WILSON^JAMES' },
    { tag: 0x00081070, vr: 'PN', value: 'CUDDY^LISA' },
    { tag: 0x00081090, vr: 'LO', value: 'Synthetic CT 64' },
    {
      tag: 0x00081110,
      vr: 'SQ',
      items: [
        [
          { tag: 0x00081150, vr: 'UI', value: '1.2.840.10008.3.1.2.3.1' },
          { tag: 0x00081155, vr: 'UI', value: newUid() },
        ],
      ],
    },
    { tag: 0x00100030, vr: 'DA', value: '19700214' },
    { tag: 0x00100040, vr: 'CS', value: 'F' },
    {
      tag: 0x00101002,
      vr: 'SQ',
      items: [
        [
          { tag: 0x00100020, vr: 'LO', value: 'NHS9434765919' },
          { tag: 0x00100022, vr: 'CS', value: 'TEXT' },
        ],
      ],
    },
    { tag: 0x00101010, vr: 'AS', value: '054Y' },
    { tag: 0x00101020, vr: 'DS', value: '1.68' },
    { tag: 0x00101030, vr: 'DS', value: '71.5' },
    { tag: 0x001021b0, vr: 'LT', value: 'Fall at home, headache since; on warfarin.' },
    { tag: 0x00180022, vr: 'CS', value: 'HELICAL MODE' },
    { tag: 0x00180090, vr: 'DS', value: '500' },
    { tag: 0x00181000, vr: 'LO', value: 'SN-0042-7731' },
    { tag: 0x00181020, vr: 'LO', value: 'SYN 4.2.1' },
    { tag: 0x00181030, vr: 'LO', value: 'Head routine 5mm' },
    { tag: 0x00181150, vr: 'IS', value: '1000' },
    { tag: 0x00181151, vr: 'IS', value: '250' },
    { tag: 0x00181210, vr: 'SH', value: 'H30s' },
    { tag: 0x00200010, vr: 'SH', value: 'S20240101' },
    { tag: 0x00321032, vr: 'PN', value: 'CHASE^ROBERT' },
    { tag: 0x00321060, vr: 'LO', value: 'CT head' },
    { tag: 0x00400244, vr: 'DA', value: '20240101' },
    { tag: 0x00400245, vr: 'TM', value: '120000' },
    { tag: 0x00400253, vr: 'SH', value: 'PPS4711' },
    { tag: 0x00400254, vr: 'LO', value: 'CT HEAD WITHOUT CONTRAST' },
    // A vendor's private blocks (creator + elements), besides the factory's (0029,0010) one.
    { tag: 0x00090010, vr: 'LO', value: 'GEMS_IDEN_01' },
    { tag: 0x00091001, vr: 'LO', value: 'CT_LIGHTSPEED' },
    { tag: 0x00091002, vr: 'SH', value: 'CT01' },
    { tag: 0x00190010, vr: 'LO', value: 'GEMS_ACQU_01' },
    { tag: 0x0019100f, vr: 'DS', value: '1234.5' },
    { tag: 0x00191018, vr: 'LO', value: 'ACQ 0042' },
    { tag: 0x00191023, vr: 'DS', value: '0.5625' },
  ];
}

interface Tool {
  readonly name: string;
  /** `prepare` deletes the previous output and syncs; each tool calls it just before its measured work. */
  readonly run: (out: string, run: number, prepare: () => Promise<void>) => Promise<Measured>;
  /** Whether the output must no longer hold the patient's name and ID. */
  readonly deidentifies: boolean;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

async function main(work: string, outRoot: string): Promise<void> {
  const count = Number(values.count);
  const runs = Math.max(1, Number(values.runs));
  if (values.regime !== 'fresh' && values.regime !== 'reuse') {
    throw new Error('--regime is fresh or reuse');
  }
  const reuse = values.regime === 'reuse';
  const cpuProf = values['cpu-prof'] === undefined ? undefined : resolve(values['cpu-prof']);
  for (const bin of [TIME, '/usr/bin/gdcmanon', '/usr/bin/openssl']) {
    try {
      statSync(bin);
    } catch {
      throw new Error(`${bin} is missing (apt-get install time libgdcm-tools openssl).`);
    }
  }
  const input = join(work, 'in');
  console.log(`Generating ${String(count)} CT 512×512 instances in ${input} ...`);
  await writeSeries(input, {
    count,
    rows: 512,
    columns: 512,
    patientName: PATIENT_NAME,
    patientId: PATIENT_ID,
    accessionNumber: 'ACC20240101001',
    studyDescription: 'CT HEAD',
    seriesDescription: 'Axial 5mm',
    extraElements: realisticHeader(),
  });
  const inputBytes = filesUnder(input).reduce((n, f) => n + statSync(f).size, 0);
  const mb = inputBytes / 1e6;
  const cert = join(work, 'cert.pem');
  const ssl = await exec('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(work, 'key.pem'),
    '-out',
    cert,
    '-days',
    '1',
    '-subj',
    '/CN=xnat-gateway bench',
  ]);
  if (ssl.code !== 0) {
    throw new Error(`openssl failed: ${ssl.stderr}`);
  }
  const gdcm = (await exec('gdcmanon', ['--version'])).stdout.trim();
  const sniffs: number[] = [];
  const loopGaps: number[] = [];

  const tools: Tool[] = [
    {
      name: 'xnat-gateway engine (anonymiseSeries, 1 worker)',
      deidentifies: true,
      run: async (out, run, prepare) => {
        const data = join(work, `engine-data-${String(run)}`);
        const prof =
          cpuProf === undefined
            ? []
            : ['--cpu-prof', `--cpu-prof-dir=${cpuProf}`, `--cpu-prof-name=engine-${String(run)}.cpuprofile`];
        const r = await exec(
          process.execPath,
          ['--max-semi-space-size=32', ...prof, join(root, 'bench/anonymise.ts'), '--engine-child', input, out, data],
          process.env,
          prepare,
        );
        if (r.code !== 0) {
          throw new Error(`engine child exited with ${String(r.code)}:\n${r.stderr.slice(-4000)}`);
        }
        const j = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Measured & {
          sniffSeconds: number;
          loopGapMs: number;
          outcome: string;
          detail: string;
        };
        if (j.outcome !== 'done') {
          throw new Error(`engine: ${j.outcome}: ${j.detail}`);
        }
        sniffs.push(j.sniffSeconds);
        loopGaps.push(j.loopGapMs);
        rmSync(data, { recursive: true, force: true });
        return j;
      },
    },
    {
      name: 'xnat-gateway CLI `anonymise IN OUT` (end to end)',
      deidentifies: true,
      run: async (out, run, prepare) => {
        const data = join(work, `cli-data-${String(run)}`);
        await prepare();
        const m = await timed(work, process.execPath, [join(root, 'src/cli/main.ts'), 'anonymise', input, out], {
          ...process.env,
          XNAT_GATEWAY_DATA_DIR: data,
        });
        rmSync(data, { recursive: true, force: true });
        return m;
      },
    },
    {
      name: 'gdcmanon -e (PS3.15 basic, AES-256 + RSA)',
      deidentifies: true,
      run: async (out, _run, prepare) => {
        await prepare();
        return timed(work, 'gdcmanon', ['-e', '-c', cert, '--aes256', '-i', input, '-o', out]);
      },
    },
    {
      name: 'gdcmanon --dumb (6 tag edits; not PS3.15)',
      deidentifies: false,
      run: async (out, _run, prepare) => {
        await prepare();
        return timed(work, 'gdcmanon', [
          '--dumb',
          '--empty',
          '10,10',
          '--empty',
          '10,20',
          '--remove',
          '10,30',
          '--remove',
          '8,80',
          '--remove',
          '8,90',
          '--remove',
          '8,50',
          '-i',
          input,
          '-o',
          out,
        ]);
      },
    },
  ];

  const results = new Map<string, Measured[]>(tools.map((t) => [t.name, []]));
  for (let run = 0; run < runs; run++) {
    const order = balancedOrder(tools.length, run)
      .map((i) => tools[i])
      .filter((t): t is Tool => t !== undefined);
    for (const tool of order) {
      const out = reuse
        ? join(outRoot, 'out')
        : join(outRoot, 'outputs', `${String(run)}-${String(tools.indexOf(tool))}`);
      const prepare = async (): Promise<void> => {
        if (reuse) {
          rmSync(out, { recursive: true, force: true });
        }
        await exec('sync', []);
      };
      const m = await tool.run(out, run, prepare);
      checkOutput(tool.name, out, count, tool.deidentifies);
      results.get(tool.name)?.push(m);
      console.log(
        `run ${String(run + 1)}/${String(runs)} ${tool.name}: ${m.seconds.toFixed(2)} s, ${(count / m.seconds).toFixed(1)} instances/s, CPU ${m.cpuSeconds.toFixed(2)} s, peak RSS ${m.rssMb.toFixed(0)} MB${m.loopGapMs === undefined ? '' : `, loop gap ${m.loopGapMs.toFixed(1)} ms`}`,
      );
    }
  }

  const cpu = cpus()[0]?.model ?? 'unknown CPU';
  console.log(
    `\n${String(count)} CT 512×512 instances, ${mb.toFixed(1)} MB (${(inputBytes / count / 1024).toFixed(0)} KiB each), one series; median of ${String(runs)} run(s); regime ${reuse ? 'reuse (one output directory, emptied before each run)' : 'fresh (a new output directory per run, all deleted at the end)'}`,
  );
  console.log(`Machine: ${String(availableParallelism())} CPUs (${cpu}), Node ${process.version}, ${gdcm}`);
  if (sniffs.length) {
    console.log(
      `Engine inputs sniffed before the timed call in ${median(sniffs).toFixed(2)} s (median; not in the engine row)`,
    );
  }
  if (loopGaps.length) {
    console.log(
      `Engine call: longest the event loop went without a turn ${median(loopGaps).toFixed(1)} ms (median over runs; worst ${Math.max(...loopGaps).toFixed(1)} ms)`,
    );
  }
  console.log(
    '\n| tool | instances | seconds | instances/s | MB/s | CPU ms/instance | peak RSS MB | ratio vs gdcmanon -e |',
  );
  console.log('|---|---|---|---|---|---|---|---|');
  const gdcmSeconds = median((results.get(tools[2]?.name ?? '') ?? []).map((m) => m.seconds));
  for (const t of tools) {
    const ms = results.get(t.name) ?? [];
    const s = median(ms.map((m) => m.seconds));
    const row = [
      t.name,
      String(count),
      s.toFixed(2),
      (count / s).toFixed(1),
      (mb / s).toFixed(1),
      ((median(ms.map((m) => m.cpuSeconds)) * 1000) / count).toFixed(2),
      median(ms.map((m) => m.rssMb)).toFixed(0),
      `${(gdcmSeconds / s).toFixed(2)}×`,
    ];
    console.log(`| ${row.join(' | ')} |`);
  }
  console.log(
    '\nratio: instances/s ÷ gdcmanon -e instances/s (above 1: faster than gdcmanon). Every run, each in seconds:',
  );
  for (const t of tools) {
    console.log(`  ${t.name}: ${(results.get(t.name) ?? []).map((m) => m.seconds.toFixed(2)).join(', ')}`);
  }
}

if (values['engine-child']) {
  const [inDir, outDir, dataDir] = positionals;
  if (!inDir || !outDir || !dataDir) {
    throw new Error('--engine-child IN OUT DATA');
  }
  await engineChild(inDir, outDir, dataDir);
} else {
  const work = mkdtempSync(join(tmpdir(), 'xg-bench-anon-'));
  const outRoot =
    values['out-dir'] === undefined ? work : mkdtempSync(join(resolve(values['out-dir']), 'xg-bench-anon-out-'));
  const cleanUp = (): void => {
    rmSync(work, { recursive: true, force: true });
    rmSync(outRoot, { recursive: true, force: true });
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      cleanUp();
      process.exit(130);
    });
  }
  try {
    await main(work, outRoot);
  } catch (err) {
    console.error(err);
    process.exitCode = 1;
  } finally {
    cleanUp();
  }
}
