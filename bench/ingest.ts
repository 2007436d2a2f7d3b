// Ingest benchmark: DCMTK storescu → xnat-gateway, → DCMTK storescp (+B, never fsyncs) and → Orthanc
// (fsyncs), in the same run, against the **durable bound** of each set, plus the 1 GB single-instance
// memory check. Prints figures; asserts nothing.
//   ./gateway npm run bench -- [--ct 1000] [--small 5000] [--large-mb 1024] [--rounds 1] [--skip-orthanc] [--skip-large]
//
// Durable bound of a set = 1 / (storescp's time per instance + the disk's write+fsync time per
// file), both measured in this run: a receiver that must make each instance durable before
// answering cannot beat receiving it as fast as storescp plus writing and fsyncing it as fast as
// the disk allows. The disk probe writes new files of the set's size, one at a time (four at a time
// for the four-association set, against storescp --fork), before and after the receivers; the bound
// uses the mean of the two. Every figure is printed with the 1-minute load average before → after.
import { cpus, release, tmpdir } from 'node:os';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeLargeInstance } from '../test/helpers/dicom-factory.ts';
import { startOrthanc } from '../test/helpers/orthanc.ts';
import { freePort, spawnLogged, waitForPort } from '../test/helpers/peers.ts';
import { writeFsyncRate, type DiskRate } from './lib/disk-probe.ts';
import { cpuSeconds, load1, PDU, peakRssMb, push, startGateway } from './lib/gateway.ts';
import { ctSet, smallSet, type InstanceSet } from './lib/sets.ts';

const { values } = parseArgs({
  options: {
    ct: { type: 'string', default: '1000' },
    small: { type: 'string', default: '5000' },
    'large-mb': { type: 'string', default: '1024' },
    rounds: { type: 'string', default: '1' },
    'skip-orthanc': { type: 'boolean', default: false },
    'skip-large': { type: 'boolean', default: false },
  },
});
const work = mkdtempSync(join(tmpdir(), 'xg-bench-'));
const rounds = Math.max(1, Number(values.rounds));

type ReceiverId = 'gateway' | 'storescp' | 'orthanc';
interface Run {
  readonly seconds: number;
  readonly cpuSeconds: number | null;
  readonly rssMb: number;
  readonly load: readonly [number, number];
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] ?? NaN) : ((s[m - 1] ?? NaN) + (s[m] ?? NaN)) / 2;
};

async function timed(pid: number | undefined, go: () => Promise<number>): Promise<Omit<Run, 'rssMb'>> {
  const before = load1();
  const cpu0 = pid ? cpuSeconds(pid) : null;
  const seconds = await go();
  const cpu = pid && cpu0 !== null ? cpuSeconds(pid) - cpu0 : null;
  return { seconds, cpuSeconds: cpu, load: [before, load1()] };
}

async function gatewayRun(name: string, dirs: readonly string[]): Promise<Run> {
  const gw = await startGateway(work, name);
  const r = await timed(gw.pid, () => push(gw.port, 'XNAT', dirs));
  const rssMb = peakRssMb(gw.pid);
  await gw.stop();
  rmSync(gw.dataDir, { recursive: true, force: true });
  return { ...r, rssMb };
}

async function storescpRun(dirs: readonly string[], fork: boolean): Promise<Run> {
  const port = await freePort();
  const out = mkdtempSync(join(work, 'storescp-'));
  const scp = spawnLogged('storescp', [
    '+B',
    '-pm',
    ...(fork ? ['--fork'] : []),
    '-pdu',
    PDU,
    '-od',
    out,
    String(port),
  ]);
  await waitForPort(port);
  // With --fork the work is done by children; cpuSeconds counts them once reaped.
  const r = await timed(scp.child.pid, () => push(port, 'ANY', dirs));
  const rssMb = peakRssMb(scp.child.pid);
  await scp.stop();
  rmSync(out, { recursive: true, force: true });
  return { ...r, rssMb };
}

async function orthancRun(dirs: readonly string[]): Promise<Run> {
  const orthanc = await startOrthanc({ dicomAet: 'ORTHANC' });
  const r = await timed(orthanc.pid, () => push(orthanc.dicomPort, 'ORTHANC', dirs));
  const rssMb = peakRssMb(orthanc.pid);
  await orthanc.stop();
  return { ...r, rssMb };
}

interface SetFigures {
  readonly runs: ReadonlyMap<ReceiverId, Run[]>;
  readonly disk: DiskRate[];
}

/** Every receiver `rounds` times, the order rotated each round, with a disk probe before and after each round. */
async function measureSet(set: InstanceSet, assoc: 1 | 4, receivers: readonly ReceiverId[]): Promise<SetFigures> {
  const dirs = assoc === 1 ? [set.dir] : set.parts;
  const runs = new Map<ReceiverId, Run[]>(receivers.map((r) => [r, []]));
  const disk: DiskRate[] = [];
  const probe = (): Promise<DiskRate> => writeFsyncRate(join(work, 'disk-probe'), set.count, set.fileBytes, assoc);
  for (let round = 0; round < rounds; round++) {
    disk.push(await probe());
    for (let k = 0; k < receivers.length; k++) {
      const id = receivers[(k + round) % receivers.length] ?? 'gateway';
      const run =
        id === 'gateway'
          ? await gatewayRun(`gw-${String(assoc)}-${String(round)}`, dirs)
          : id === 'storescp'
            ? await storescpRun(dirs, assoc > 1)
            : await orthancRun(dirs);
      runs.get(id)?.push(run);
    }
    disk.push(await probe());
  }
  return { runs, disk };
}

const LABELS: Record<ReceiverId, (assoc: number) => string> = {
  gateway: () => 'xnat-gateway (fsync + commit)',
  storescp: (a) => (a > 1 ? 'DCMTK storescp --fork (no fsync)' : 'DCMTK storescp +B (no fsync)'),
  orthanc: () => 'Orthanc (fsync, SQLite NORMAL)',
};

function printSet(title: string, set: InstanceSet, assoc: number, f: SetFigures): void {
  const perFile = median(f.disk.map((d) => d.secondsPerFile));
  const scpRuns = f.runs.get('storescp') ?? [];
  const scpPerInstance = median(scpRuns.map((r) => r.seconds)) / set.count;
  const bound = 1 / (scpPerInstance + perFile);
  const rate = (id: ReceiverId): number => set.count / median((f.runs.get(id) ?? []).map((r) => r.seconds));
  const mb = (set.count * set.fileBytes) / 1e6;
  console.log(`\n${title}`);
  console.log(
    `disk, write + fsync of new ${(set.fileBytes / 1024).toFixed(0)} KiB files, ${assoc > 1 ? `${String(assoc)} at a time` : 'one at a time'}: ${f.disk.map((d) => d.filesPerSecond.toFixed(0)).join(', ')} files/s (${(perFile * 1000).toFixed(3)} ms per file)`,
  );
  console.log(
    `durable bound = 1 / (storescp ${(scpPerInstance * 1000).toFixed(3)} ms + disk ${(perFile * 1000).toFixed(3)} ms per instance) = ${bound.toFixed(0)} images/s`,
  );
  console.log(
    'receiver                          images/s     MB/s  seconds  CPU ms/img  peak RSS MB  × bound  × Orthanc  × storescp  load 1 min',
  );
  for (const [id, runs] of f.runs) {
    const seconds = median(runs.map((r) => r.seconds));
    const cpus = runs.map((r) => r.cpuSeconds).filter((c): c is number => c !== null);
    const cpu = cpus.length ? ((median(cpus) * 1000) / set.count).toFixed(2) : '–';
    const orthanc = f.runs.has('orthanc') ? (rate(id) / rate('orthanc')).toFixed(2) : '–';
    const loads = runs.map((r) => `${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)}`).join(' ');
    console.log(
      `${LABELS[id](assoc).padEnd(32)} ${rate(id).toFixed(0).padStart(9)} ${(mb / seconds).toFixed(1).padStart(8)} ${seconds.toFixed(2).padStart(8)} ${cpu.padStart(11)} ${median(
        runs.map((r) => r.rssMb),
      )
        .toFixed(0)
        .padStart(
          12,
        )} ${(rate(id) / bound).toFixed(2).padStart(8)} ${orthanc.padStart(10)} ${(rate(id) / rate('storescp')).toFixed(2).padStart(11)}  ${loads}`,
    );
  }
  if (rounds > 1) {
    for (const [id, runs] of f.runs) {
      console.log(`  ${id} per round: ${runs.map((r) => (set.count / r.seconds).toFixed(0)).join(', ')} images/s`);
    }
  }
}

async function large(): Promise<void> {
  const largeMb = Number(values['large-mb']);
  const dir = join(work, 'large');
  mkdirSync(dir, { recursive: true });
  await writeLargeInstance(join(dir, 'big.dcm'), { bytes: largeMb * 1024 * 1024 });
  const r = await gatewayRun('gw-large', [dir]);
  console.log(
    `\nSingle ${String(largeMb)} MiB instance → xnat-gateway: ${r.seconds.toFixed(1)} s, ${(largeMb / r.seconds).toFixed(0)} MiB/s, CPU ${r.cpuSeconds?.toFixed(1) ?? '–'} s, peak RSS ${r.rssMb.toFixed(0)} MB (goal ≤ 256 MB); load ${r.load[0].toFixed(1)}→${r.load[1].toFixed(1)}`,
  );
  rmSync(dir, { recursive: true, force: true });
}

async function main(): Promise<void> {
  const withOrthanc: ReceiverId[] = values['skip-orthanc']
    ? ['gateway', 'storescp']
    : ['gateway', 'storescp', 'orthanc'];
  console.log(
    `xnat-gateway ingest bench, ${new Date().toISOString()}, Node ${process.version}, ${String(cpus().length)} × ${cpus()[0]?.model ?? '?'}, Linux ${release()}, ${String(rounds)} round(s); medians over rounds`,
  );
  console.log(
    `storescu -pdu ${PDU} +sd, TCP_NODELAY=1; gateway as \`npm start\` runs it (WAL, synchronous=FULL; the row committed while the file is fsynced, Success after both: ADR 0012)`,
  );
  const ct = await ctSet(work, Number(values.ct));
  printSet(
    `CT set: ${String(ct.count)} × ${(ct.fileBytes / 1024).toFixed(0)} KiB (${ct.label}), one association`,
    ct,
    1,
    await measureSet(ct, 1, withOrthanc),
  );
  printSet(
    'CT set over 4 parallel associations (goal: gateway ≥ 0.5 × storescp --fork)',
    ct,
    4,
    await measureSet(ct, 4, ['gateway', 'storescp']),
  );
  rmSync(ct.dir, { recursive: true, force: true });
  const small = await smallSet(work, Number(values.small));
  printSet(
    `Small set: ${String(small.count)} × ${(small.fileBytes / 1024).toFixed(1)} KiB (${small.label}), one association`,
    small,
    1,
    await measureSet(small, 1, withOrthanc),
  );
  rmSync(small.dir, { recursive: true, force: true });
  if (!values['skip-large']) {
    await large();
  }
  rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
