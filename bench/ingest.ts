// Ingest benchmark: DCMTK storescu → xnat-gateway versus → DCMTK storescp (+B, no fsync) and → Orthanc,
// in the same run, plus the single 1 GB instance memory check. Prints figures; asserts nothing.
//   node bench/ingest.ts [--ct 1000] [--small 5000] [--large-mb 1024] [--skip-orthanc]
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { writeLargeInstance, writeSeries } from '../test/helpers/dicom-factory.ts';
import { startOrthanc } from '../test/helpers/orthanc.ts';
import { freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../test/helpers/peers.ts';

const { values } = parseArgs({
  options: {
    ct: { type: 'string', default: '1000' },
    small: { type: 'string', default: '5000' },
    'large-mb': { type: 'string', default: '1024' },
    'skip-orthanc': { type: 'boolean', default: false },
  },
});
const root = new URL('../', import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), 'xg-bench-'));
const PDU = '131072';

/** Peak resident set of a running process (VmHWM), in MB. */
function peakRssMb(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

interface Result {
  receiver: string;
  seconds: number;
  images: number;
  mb: number;
  rssMb: number;
}

async function push(port: number, aet: string, dir: string): Promise<number> {
  const t0 = process.hrtime.bigint();
  const r = await run('storescu', ['-pdu', PDU, '+sd', '+r', '-aec', aet, '127.0.0.1', String(port), dir], {
    timeoutMs: 3_600_000,
  });
  if (r.code !== 0) {
    throw new Error(`storescu → ${aet} failed: ${r.stderr.slice(-2000)}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** Four storescu processes at once, one association each, over the four subdirectories of `dir`. */
async function pushParallel(port: number, aet: string, dirs: string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const runs = await Promise.all(
    dirs.map((d) =>
      run('storescu', ['-pdu', PDU, '+sd', '-aec', aet, '127.0.0.1', String(port), d], { timeoutMs: 3_600_000 }),
    ),
  );
  const failed = runs.find((r) => r.code !== 0);
  if (failed) {
    throw new Error(`parallel storescu → ${aet} failed: ${failed.stderr.slice(-2000)}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function startGateway(name: string): Promise<{ proc: LoggedProcess; port: number }> {
  const [port, http] = [await freePort(), await freePort()];
  const config = join(work, `${name}.yaml`);
  // Quiet period longer than the run: we measure durable ingest, not delivery.
  writeFileSync(
    config,
    `dataDir: ${join(work, `${name}-data`)}\ndimse: { port: ${String(port)}, maxPduBytes: ${PDU} }\nhttp: { port: ${String(http)} }\nseries: { quietPeriodMs: 3600000 }\nlog: { level: warn }\nspool: { minFreeBytes: 0 }\n`,
  );
  // Same flags as `npm start` and the container.
  const proc = spawnLogged(
    process.execPath,
    ['--max-semi-space-size=32', join(root, 'src/cli/main.ts'), 'run', '--config', config],
    { cwd: root },
  );
  await waitForPort(port, '127.0.0.1', 20_000).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${proc.output()}`);
  });
  return { proc, port };
}

async function measure(
  label: string,
  dir: string,
  images: number,
  mb: number,
  skipOrthanc: boolean,
): Promise<Result[]> {
  const out: Result[] = [];
  const gw = await startGateway(`gw-${label}`);
  const gwSeconds = await push(gw.port, 'XNAT', dir);
  out.push({
    receiver: 'xnat-gateway (fsync + commit)',
    seconds: gwSeconds,
    images,
    mb,
    rssMb: peakRssMb(gw.proc.child.pid),
  });
  await gw.proc.stop();

  const scpPort = await freePort();
  const scpDir = mkdtempSync(join(work, 'storescp-'));
  const scp = spawnLogged('storescp', ['+B', '-pm', '-pdu', PDU, '-od', scpDir, String(scpPort)]);
  await waitForPort(scpPort);
  const scpSeconds = await push(scpPort, 'ANY', dir);
  out.push({
    receiver: 'DCMTK storescp +B (no fsync)',
    seconds: scpSeconds,
    images,
    mb,
    rssMb: peakRssMb(scp.child.pid),
  });
  await scp.stop();
  rmSync(scpDir, { recursive: true, force: true });

  if (!skipOrthanc) {
    const orthanc = await startOrthanc({ dicomAet: 'ORTHANC' });
    const s = await push(orthanc.dicomPort, 'ORTHANC', dir);
    out.push({ receiver: 'Orthanc (SQLite index)', seconds: s, images, mb, rssMb: peakRssMb(orthanc.pid) });
    await orthanc.stop();
  }
  return out;
}

async function measureParallel(dirs: string[], images: number, mb: number): Promise<Result[]> {
  const gw = await startGateway('gw-parallel');
  const seconds = await pushParallel(gw.port, 'XNAT', dirs);
  const out: Result[] = [
    { receiver: 'xnat-gateway (fsync + commit)', seconds, images, mb, rssMb: peakRssMb(gw.proc.child.pid) },
  ];
  await gw.proc.stop();
  const scpPort = await freePort();
  const scpDir = mkdtempSync(join(work, 'storescp-'));
  const scp = spawnLogged('storescp', ['+B', '-pm', '--fork', '-pdu', PDU, '-od', scpDir, String(scpPort)]);
  await waitForPort(scpPort);
  out.push({
    receiver: 'DCMTK storescp --fork (no fsync)',
    seconds: await pushParallel(scpPort, 'ANY', dirs),
    images,
    mb,
    rssMb: peakRssMb(scp.child.pid),
  });
  await scp.stop();
  rmSync(scpDir, { recursive: true, force: true });
  return out;
}

function print(title: string, rows: Result[]): void {
  console.log(`\n${title}`);
  console.log('receiver                          images/s      MB/s   seconds  peak RSS MB');
  for (const r of rows) {
    console.log(
      `${r.receiver.padEnd(32)} ${(r.images / r.seconds).toFixed(1).padStart(9)} ${(r.mb / r.seconds).toFixed(1).padStart(9)} ${r.seconds.toFixed(2).padStart(9)} ${r.rssMb.toFixed(0).padStart(12)}`,
    );
  }
  const [gw, scp, orthanc] = rows;
  if (gw && scp) {
    console.log(`ratio gateway / storescp: ${(scp.seconds / gw.seconds).toFixed(2)}×`);
  }
  if (gw && orthanc) {
    console.log(`ratio gateway / Orthanc:  ${(orthanc.seconds / gw.seconds).toFixed(2)}×`);
  }
}

/** What this disk allows: N files of `size` bytes, each written, fsynced and closed in turn. */
async function fsyncCeiling(dir: string, count: number, size: number): Promise<number> {
  const { open: openFile, mkdir } = await import('node:fs/promises');
  await mkdir(dir, { recursive: true });
  const buf = Buffer.alloc(size, 7);
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    const fh = await openFile(join(dir, `${String(i)}.bin`), 'w');
    await fh.write(buf);
    await fh.sync();
    await fh.close();
  }
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  rmSync(dir, { recursive: true, force: true });
  return count / seconds;
}

async function main(): Promise<void> {
  const ctCount = Number(values.ct);
  const smallCount = Number(values.small);
  console.log(`Generating ${String(ctCount)} CT 512×512 and ${String(smallCount)} 64×64 instances in ${work} ...`);
  const ctDir = join(work, 'ct');
  const quarter = Math.ceil(ctCount / 4);
  const ctDirs = [0, 1, 2, 3].map((k) => join(ctDir, `part${String(k)}`));
  const ctFiles = (
    await Promise.all(
      ctDirs.map((d, k) =>
        writeSeries(d, { count: Math.min(quarter, ctCount - k * quarter), rows: 512, columns: 512 }),
      ),
    )
  ).flat();
  const smallDir = join(work, 'small');
  await writeSeries(smallDir, { count: smallCount, rows: 64, columns: 64 });
  const ceilingCt = await fsyncCeiling(join(work, 'ceiling'), ctCount, 526 * 1024);
  const ceilingSmall = await fsyncCeiling(join(work, 'ceiling'), smallCount, 9 * 1024);
  console.log(
    `Disk ceiling (write + fsync per file, one at a time): ${ceilingCt.toFixed(0)} files/s of 526 KB, ${ceilingSmall.toFixed(0)} files/s of 9 KB`,
  );
  const size = (dir: string, n: number): number => (readFileSync(join(dir, '0001.dcm')).length * n) / 1e6;
  const ctMb = size(ctDirs[0] ?? '', ctCount);
  print(
    `CT set: ${String(ctCount)} × ${(size(ctDirs[0] ?? '', 1) * 1000).toFixed(0)} KB, one association`,
    await measure('ct', ctDir, ctFiles.length, ctMb, values['skip-orthanc']),
  );
  print(`CT set over 4 parallel associations`, await measureParallel(ctDirs, ctFiles.length, ctMb));
  rmSync(ctDir, { recursive: true, force: true });
  print(
    `Small set: ${String(smallCount)} × 64×64`,
    await measure('small', smallDir, smallCount, size(smallDir, smallCount), values['skip-orthanc']),
  );
  rmSync(smallDir, { recursive: true, force: true });

  const largeMb = Number(values['large-mb']);
  const largeDir = join(work, 'large');
  mkdirSync(largeDir, { recursive: true });
  await writeLargeInstance(join(largeDir, 'big.dcm'), { bytes: largeMb * 1024 * 1024 });
  const gw = await startGateway('gw-large');
  const seconds = await push(gw.port, 'XNAT', largeDir);
  const rss = peakRssMb(gw.proc.child.pid);
  await gw.proc.stop();
  console.log(
    `\nSingle ${String(largeMb)} MB instance: ${seconds.toFixed(1)} s, ${(largeMb / seconds).toFixed(0)} MB/s, gateway peak RSS ${rss.toFixed(0)} MB (target < 300 MB)`,
  );
  rmSync(work, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  rmSync(work, { recursive: true, force: true });
  process.exit(1);
});
