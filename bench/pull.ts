//! Pull benchmark: the gateway pulling a list of studies from Orthanc by C-MOVE, against DCMTK
// movescu moving the same studies to storescp, in one run. Prints figures; asserts nothing.
//   ./gateway node bench/pull.ts [--studies 200] [--instances 100] [--size 64] [--in-flight 1]
//
// Data: --studies studies of two series, --instances CT instances each (--size² 16-bit pixels),
// written once by the test factory and loaded into one Orthanc (Debian package) by storescu.
// Baseline: `movescu -aem STORESCP` per study, one after another (as the gateway with one study in
// flight), into `storescp -od OUT` (single process); time from the first movescu to the last exit.
// Receiver: the same movescu loop into a second `xnat-gateway run` (receiver only): what durable
// ingest alone costs, so the pull's own overhead can be told from it.
// Gateway: `xnat-gateway run` as a child process (the folder sink, the default de-identification,
// synchronous=FULL), the list POSTed to /pulls, with pacs schedule maxStudiesInFlight = --in-flight;
// "retrieved": from the POST until every row is complete (every instance spooled and counted);
// "delivered": until every row is delivered (de-identified and written to the outbox) and the
// pull has ended. The goal: retrieved ≥ 0.8× the baseline's instances/s.
// CPU: each side's CPU seconds per instance in each run (/proc: Orthanc, the receiving process with
// its threads, the movescu runs), and what the goal's rate would leave the gateway on this machine.
import { mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { newUid, writeSeries } from '../test/helpers/dicom-factory.ts';
import { startOrthanc } from '../test/helpers/orthanc.ts';
import { freePort, run, spawnLogged, waitForPort } from '../test/helpers/peers.ts';
import { cpuSeconds, reapedChildrenCpuSeconds } from './lib/gateway.ts';

const { values } = parseArgs({
  options: {
    studies: { type: 'string', default: '200' },
    instances: { type: 'string', default: '100' },
    size: { type: 'string', default: '64' },
    'in-flight': { type: 'string', default: '1' },
  },
});
const STUDIES = Number(values.studies);
const PER_STUDY = Number(values.instances);
const SIZE = Number(values.size);
const IN_FLIGHT = Number(values['in-flight']);
const root = new URL('../', import.meta.url).pathname;

function countFiles(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    n += e.isDirectory() ? countFiles(join(dir, e.name)) : 1;
  }
  return n;
}

/**
 * CPU seconds each side used in one run: the PACS (Orthanc), the receiving side (storescp, the
 * receiver, the gateway: its worker threads included), and movescu. With the wall time this says
 * how much of the machine's CPU a run left unused, and what a ratio to the baseline would cost.
 */
interface CpuUse {
  readonly orthanc: number;
  readonly receiving: number;
  readonly movescu: number;
}
const cpuRows: { name: string; seconds: number; cpu: CpuUse }[] = [];

/** CPU per instance by side, and what the goal's rate would leave the receiving side on this machine. */
function printCpu(total: number, baseline: number): void {
  const cores = availableParallelism();
  const ms = (s: number): string => ((s * 1000) / total).toFixed(2);
  console.log(`CPU per instance (ms), ${String(cores)} cores:`);
  console.log('| | Orthanc | receiving side | movescu | all | machine busy |');
  console.log('| --- | --- | --- | --- | --- | --- |');
  for (const { name, seconds, cpu } of cpuRows) {
    const all = cpu.orthanc + cpu.receiving + cpu.movescu;
    console.log(
      `| ${name} | ${ms(cpu.orthanc)} | ${ms(cpu.receiving)} | ${ms(cpu.movescu)} | ${ms(all)} | ${((all / (seconds * cores)) * 100).toFixed(0)} % |`,
    );
  }
  // At 0.8× the baseline's rate the machine has cores × wall of CPU; what Orthanc needed per
  // instance in the pull is what it needs then too, and the receiving side gets the rest.
  const goalSeconds = baseline / 0.8;
  const pull = cpuRows.find((r) => r.name === 'gateway pull, retrieved');
  if (pull) {
    const left = goalSeconds * cores - pull.cpu.orthanc;
    console.log(
      `At the goal (${goalSeconds.toFixed(1)} s) the machine has ${ms(goalSeconds * cores)} ms of CPU per instance; after Orthanc's ${ms(pull.cpu.orthanc)} the gateway could use at most ${ms(left)} ms (it used ${ms(pull.cpu.receiving)} until retrieved).`,
    );
  }
}

const scratch = mkdtempSync(join(tmpdir(), 'xg-bench-pull-'));
const rate = (n: number, s: number): string => (n / s).toFixed(1);
try {
  console.error(
    `Writing ${String(STUDIES)} studies of ${String(PER_STUDY)} instances (${String(SIZE)}×${String(SIZE)})…`,
  );
  const studies: { accession: string; uid: string }[] = [];
  for (let i = 0; i < STUDIES; i++) {
    const uid = newUid();
    const accession = `B${String(i + 1).padStart(5, '0')}`;
    for (const [j, count] of [Math.ceil(PER_STUDY / 2), Math.floor(PER_STUDY / 2)].entries()) {
      await writeSeries(join(scratch, 'data', String(i), String(j)), {
        count,
        studyInstanceUid: uid,
        seriesInstanceUid: newUid(),
        accessionNumber: accession,
        patientId: `BP${String(i)}`,
        seriesNumber: j + 1,
        rows: SIZE,
        columns: SIZE,
      });
    }
    studies.push({ accession, uid });
  }
  const total = STUDIES * PER_STUDY;
  const [gwDimse, gwHttp, scpPort, rxPort] = [await freePort(), await freePort(), await freePort(), await freePort()];
  const orthanc = await startOrthanc({
    modalities: {
      gateway: ['XNAT', '127.0.0.1', gwDimse],
      scp: ['STORESCP', '127.0.0.1', scpPort],
      receiver: ['RECEIVER', '127.0.0.1', rxPort],
    },
    config: { ConcurrentJobs: 1 },
  });
  try {
    console.error('Loading Orthanc…');
    const load = await run(
      'storescu',
      ['+sd', '+r', '-aec', 'ORTHANC', '127.0.0.1', String(orthanc.dicomPort), join(scratch, 'data')],
      { timeoutMs: 3_600_000 },
    );
    if (load.code !== 0) {
      throw new Error(`storescu into Orthanc failed: ${load.stderr}`);
    }

    // Baseline: movescu → storescp, study after study.
    const out = join(scratch, 'storescp');
    mkdirSync(out);
    const scp = spawnLogged('storescp', ['-aet', 'STORESCP', '-od', out, String(scpPort)]);
    await waitForPort(scpPort);
    const cpuAt = (pid: number | undefined): CpuUse => ({
      orthanc: cpuSeconds(orthanc.pid),
      receiving: cpuSeconds(pid),
      movescu: reapedChildrenCpuSeconds(),
    });
    const cpuSince = (name: string, seconds: number, pid: number | undefined, from: CpuUse): void => {
      const now = cpuAt(pid);
      cpuRows.push({
        name,
        seconds,
        cpu: {
          orthanc: now.orthanc - from.orthanc,
          receiving: now.receiving - from.receiving,
          movescu: now.movescu - from.movescu,
        },
      });
    };
    const c0 = cpuAt(scp.child.pid);
    const t0 = performance.now();
    for (const s of studies) {
      const r = await run(
        'movescu',
        [
          '-S',
          '-aet',
          'MOVESCU',
          '-aec',
          'ORTHANC',
          '-aem',
          'STORESCP',
          '-k',
          'QueryRetrieveLevel=STUDY',
          '-k',
          `StudyInstanceUID=${s.uid}`,
          '127.0.0.1',
          String(orthanc.dicomPort),
        ],
        { timeoutMs: 600_000 },
      );
      if (r.code !== 0) {
        throw new Error(`movescu failed: ${r.stderr}`);
      }
    }
    const baseline = (performance.now() - t0) / 1000;
    cpuSince('movescu → storescp', baseline, scp.child.pid, c0);
    const moved = countFiles(out);
    await scp.stop();

    // The gateway's receiver alone as the move destination (durable ingest, no pull machinery).
    const rxConfig = join(scratch, 'receiver.yaml');
    writeFileSync(
      rxConfig,
      `dataDir: ${join(scratch, 'rx')}\ndimse: { port: ${String(rxPort)}, host: 127.0.0.1, aeTitle: RECEIVER }\nhttp: { enabled: false }\nlog: { level: warn }\n`,
    );
    const rx = spawnLogged(process.execPath, [
      '--max-semi-space-size=32',
      join(root, 'src/cli/main.ts'),
      'run',
      '--config',
      rxConfig,
    ]);
    let ingest: number;
    try {
      await waitForPort(rxPort, '127.0.0.1', 30_000);
      const c2 = cpuAt(rx.child.pid);
      const t2 = performance.now();
      for (const s of studies) {
        const r = await run(
          'movescu',
          [
            '-S',
            '-aet',
            'MOVESCU',
            '-aec',
            'ORTHANC',
            '-aem',
            'RECEIVER',
            '-k',
            'QueryRetrieveLevel=STUDY',
            '-k',
            `StudyInstanceUID=${s.uid}`,
            '127.0.0.1',
            String(orthanc.dicomPort),
          ],
          { timeoutMs: 600_000 },
        );
        if (r.code !== 0) {
          throw new Error(`movescu to the gateway failed: ${r.stderr}`);
        }
      }
      ingest = (performance.now() - t2) / 1000;
      cpuSince('movescu → gateway receiver', ingest, rx.child.pid, c2);
    } finally {
      await rx.stop();
    }

    // The gateway.
    const dataDir = join(scratch, 'gw');
    const config = join(scratch, 'gateway.yaml');
    writeFileSync(
      config,
      [
        `dataDir: ${dataDir}`,
        `dimse: { port: ${String(gwDimse)}, host: 127.0.0.1 }`,
        `http: { port: ${String(gwHttp)} }`,
        'log: { level: warn }',
        `pacs: [{ name: orthanc, aeTitle: ORTHANC, host: 127.0.0.1, port: ${String(orthanc.dicomPort)}, callingAe: XNAT, schedule: { windows: [{ maxAssociations: ${String(IN_FLIGHT + 1)}, maxStudiesInFlight: ${String(IN_FLIGHT)} }] } }]`,
        'pull: { arrivalPollMs: 100 }',
        '',
      ].join('\n'),
    );
    const gw = spawnLogged(process.execPath, [
      '--max-semi-space-size=32',
      join(root, 'src/cli/main.ts'),
      'run',
      '--config',
      config,
    ]);
    try {
      await waitForPort(gwHttp, '127.0.0.1', 30_000);
      const base = `http://127.0.0.1:${String(gwHttp)}`;
      const list = ['AccessionNumber', ...studies.map((s) => s.accession)].join('\n');
      const c1 = cpuAt(gw.child.pid);
      const t1 = performance.now();
      const res = await fetch(`${base}/pulls?pacs=orthanc`, {
        method: 'POST',
        headers: { 'content-type': 'text/csv' },
        body: list,
      });
      if (res.status !== 201) {
        throw new Error(`POST /pulls: ${String(res.status)} ${await res.text()}`);
      }
      const id = ((await res.json()) as { pull: { id: string } }).pull.id;
      let retrieved: number | null = null;
      const polls: number[] = [];
      let delivered: number | null = null;
      for (;;) {
        const asked = performance.now();
        const d = (await (await fetch(`${base}/pulls/${id}`)).json()) as {
          pull: { state: string };
          rows: { state: string }[];
        };
        polls.push(performance.now() - asked);
        const now = (performance.now() - t1) / 1000;
        if (retrieved === null && d.rows.every((r) => ['complete', 'delivered', 'verified'].includes(r.state))) {
          retrieved = now;
          cpuSince('gateway pull, retrieved', now, gw.child.pid, c1);
        }
        if (d.pull.state === 'ended') {
          delivered = now;
          cpuSince('gateway pull, delivered', now, gw.child.pid, c1);
          break;
        }
        if (d.rows.some((r) => ['failed', 'partial'].includes(r.state))) {
          throw new Error(`a row failed: ${JSON.stringify(d.rows.filter((r) => r.state !== 'delivered'))}`);
        }
        await new Promise((r) => setTimeout(r, 100));
      }
      const r = retrieved ?? delivered;
      console.log(
        `Pull of ${String(STUDIES)} studies, ${String(total)} instances (${String(SIZE)}×${String(SIZE)} CT), Orthanc on loopback, ${String(IN_FLIGHT)} study in flight`,
      );
      console.log('| | seconds | studies/hour | instances/s |');
      console.log('| --- | --- | --- | --- |');
      console.log(
        `| movescu → storescp (${String(moved)} files) | ${baseline.toFixed(1)} | ${rate(STUDIES * 3600, baseline)} | ${rate(total, baseline)} |`,
      );
      console.log(
        `| movescu → gateway receiver (durable ingest only) | ${ingest.toFixed(1)} | ${rate(STUDIES * 3600, ingest)} | ${rate(total, ingest)} |`,
      );
      console.log(
        `| gateway pull, retrieved (spooled, counted) | ${r.toFixed(1)} | ${rate(STUDIES * 3600, r)} | ${rate(total, r)} |`,
      );
      console.log(
        `| gateway pull, delivered (de-identified, outbox) | ${delivered.toFixed(1)} | ${rate(STUDIES * 3600, delivered)} | ${rate(total, delivered)} |`,
      );
      console.log(
        `Retrieved: ${(baseline / r).toFixed(2)}× movescu → storescp (goal ≥ 0.8×); ${(ingest / r).toFixed(2)}× movescu into the gateway's own receiver.`,
      );
      printCpu(total, baseline);
      const sorted = [...polls].sort((x, y) => x - y);
      console.log(
        `Status polls (GET /pulls/ID every 100 ms): ${String(polls.length)}, answered in ${(polls.reduce((x, y) => x + y, 0) / polls.length).toFixed(1)} ms mean, ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1)} ms median.`,
      );
    } finally {
      await gw.stop();
    }
  } finally {
    await orthanc.stop();
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}
