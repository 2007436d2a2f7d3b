// Whole-pipeline benchmark: 10,000 instances (bench/lib/pipeline-set.ts) pushed by storescu through
// receive → route → anonymise → deliver to the fake XNAT's REST import, running in its own process
// (bench/fake-xnat-server.ts), with verified arrival. Prints figures; asserts nothing.
//   ./gateway npm run bench:pipeline -- [--total 10000] [--senders 4] [--quiet-ms 5000] [--keep]
//     [--ct-series 6 --ct-slices 500 --mr-series 40 --mr-images 100]   (RT treatment records fill up to --total)
//     [--workers N]   (workers.concurrency; default: the gateway's own default)
//
// Every step goes through the gateway's process boundary (config file, DICOM port, /series, the
// CLI), never its internal modules, so the bench measures whatever src/ looks like. Measured:
//   pipeline  a fresh gateway (profile basic, one xnat-rest sink, verify on) receives the set
//             from `--senders` storescu processes at once (one association each, the series
//             dealt out in turn); wall = first instance sent → last series verified in XNAT
//             (its deliveredAt in /series). Latency of a series = deliveredAt − lastInstanceAt −
//             quiet period: what the gateway adds after the quiet period.
//   stages alone, each on its own, in this order:
//     receive    the same push into a gateway whose quiet period (1 h) keeps every series
//                receiving: durable ingest with delivery paused; first instance → last Success.
//     route      `xnat-gateway explain --json` over that gateway's spool (every instance's header
//                read and the rules applied, as the router does), one process.
//     anonymise  `xnat-gateway anonymise SPOOL OUT` (the daemon's engine, key and ledger; profile
//                basic; output verified), one process, series one after another; its output is
//                the pre-anonymised set for the next stage.
//     deliver    a fresh gateway with profile none receives OUT with delivery paused (1 h), is
//                stopped, and is started again on the same data with a 1 s quiet period: every
//                series completes at once; restart (DICOM port open) → last verified arrival.
//                This includes routing and the copy-through transform of profile none.
//   CLI stage times include one process start-up each (printed separately).
//   overlap ratio = pipeline wall / slowest stage alone (1.0: perfect overlap; the sum of the
//   stages / slowest is what no overlap at all would give).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run } from '../test/helpers/peers.ts';
import { startFakeXnatProcess, type FakeXnatProcess } from './lib/fake-xnat-process.ts';
import { cpuSeconds, load1, PDU, peakRssMb, startGateway, type Gateway } from './lib/gateway.ts';
import { DEFAULT_MIX, writePipelineSet, type PipelineSet, type SetSeries } from './lib/pipeline-set.ts';

const { values } = parseArgs({
  options: {
    total: { type: 'string', default: String(DEFAULT_MIX.total) },
    senders: { type: 'string', default: '4' },
    'ct-series': { type: 'string', default: String(DEFAULT_MIX.ctSeries) },
    'ct-slices': { type: 'string', default: String(DEFAULT_MIX.ctSlices) },
    'mr-series': { type: 'string', default: String(DEFAULT_MIX.mrSeries) },
    'mr-images': { type: 'string', default: String(DEFAULT_MIX.mrImages) },
    'quiet-ms': { type: 'string', default: '5000' },
    keep: { type: 'boolean', default: false },
    workers: { type: 'string' },
  },
});
const work = mkdtempSync(join(tmpdir(), 'xg-bench-pipeline-'));
const root = new URL('../', import.meta.url).pathname;
const quietMs = Number(values['quiet-ms']);
const senders = Math.max(1, Number(values.senders));
const PAUSED_MS = 3_600_000;

interface SeriesRow {
  id: number;
  seriesUid: string;
  state: string;
  instanceCount: number;
  firstInstanceAt: number;
  lastInstanceAt: number;
  completedAt: number | null;
  deliveredAt: number | null;
  project: string | null;
}

/** Every series batch the gateway holds (its status API, paged). */
async function seriesOf(g: Gateway): Promise<SeriesRow[]> {
  const out: SeriesRow[] = [];
  for (let offset = 0; ; offset += 500) {
    const res = await fetch(`http://127.0.0.1:${String(g.httpPort)}/series?limit=500&offset=${String(offset)}`);
    if (!res.ok) {
      throw new Error(`GET /series: ${String(res.status)} ${await res.text()}`);
    }
    const page = (await res.json()) as { items: SeriesRow[] };
    out.push(...page.items);
    if (page.items.length < 500) {
      return out;
    }
  }
}

/** Polls until `n` batches exist and every one is delivered (or failed); returns them. */
async function untilDelivered(g: Gateway, n: number, timeoutMs: number): Promise<SeriesRow[]> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const rows = await seriesOf(g);
    const done = rows.filter((r) => r.state === 'delivered' || r.state === 'failed');
    if (rows.length >= n && done.length === rows.length) {
      return rows;
    }
    if (Date.now() > until) {
      throw new Error(
        `Timed out: ${String(done.length)} of ${String(rows.length)} batches delivered (${String(n)} expected).`,
      );
    }
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The series folders dealt out to `senders` storescu processes in turn, kinds interleaved. */
function dealt(set: PipelineSet): string[][] {
  const lanes: string[][] = Array.from({ length: senders }, () => []);
  set.series.forEach((s, i) => lanes[i % senders]?.push(s.dir));
  return lanes;
}

/** storescu per lane, all at once; resolves with the epoch ms of the start and of the last exit. */
async function pushLanes(
  port: number,
  lanes: readonly (readonly string[])[],
): Promise<{ startMs: number; endMs: number }> {
  const startMs = Date.now();
  const runs = await Promise.all(
    lanes
      .filter((l) => l.length)
      .map((dirs) =>
        run('storescu', ['-pdu', PDU, '+sd', '+r', '-aec', 'XNAT', '127.0.0.1', String(port), ...dirs], {
          timeoutMs: 3_600_000,
        }),
      ),
  );
  const failed = runs.find((r) => r.code !== 0);
  if (failed) {
    throw new Error(`storescu failed: ${failed.stderr.slice(-2000)}`);
  }
  return { startMs, endMs: Date.now() };
}

function gatewayYaml(xnat: FakeXnatProcess, dir: string, profile: 'basic' | 'none'): string {
  const workers = values.workers === undefined ? [] : [`workers: { concurrency: ${String(Number(values.workers))} }`];
  return [xnat.sinkYaml(dir), `anonymise: { profile: ${profile} }`, 'folder: { enabled: false }', ...workers].join(
    '\n',
  );
}

async function cli(args: readonly string[], configFile: string): Promise<{ seconds: number; stdout: string }> {
  const t0 = process.hrtime.bigint();
  const r = await run(
    process.execPath,
    ['--max-semi-space-size=32', join(root, 'src/cli/main.ts'), ...args, '--config', configFile],
    { timeoutMs: 3_600_000, cwd: root },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) {
    throw new Error(`xnat-gateway ${args[0] ?? ''} failed (${String(r.code)}): ${r.stderr.slice(-3000)}`);
  }
  return { seconds, stdout: r.stdout };
}

const pct = (xs: readonly number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))] ?? NaN;
};

interface StageFigures {
  seconds: number;
  note: string;
}

async function receiveAlone(set: PipelineSet): Promise<{ stage: StageFigures; spool: string }> {
  const xnat = await startFakeXnatProcess();
  try {
    const gw = await startGateway(work, 'receive', {
      quietPeriodMs: PAUSED_MS,
      extraYaml: gatewayYaml(xnat, work, 'basic'),
    });
    const cpu0 = cpuSeconds(gw.pid);
    const load0 = load1();
    const t = await pushLanes(gw.port, dealt(set));
    const cpu = cpuSeconds(gw.pid) - cpu0;
    const rss = peakRssMb(gw.pid);
    await gw.stop();
    const seconds = (t.endMs - t.startMs) / 1000;
    return {
      stage: {
        seconds,
        note: `${(set.count / seconds).toFixed(0)} instances/s, gateway CPU ${((cpu * 1000) / set.count).toFixed(2)} ms/instance, peak RSS ${rss.toFixed(0)} MB, load ${load0.toFixed(1)}→${load1().toFixed(1)}`,
      },
      spool: join(gw.dataDir, 'spool'),
    };
  } finally {
    await xnat.stop();
  }
}

async function routeAlone(spool: string, configFile: string): Promise<StageFigures> {
  const load0 = load1();
  const r = await cli(['explain', '--json', spool], configFile);
  const series = r.stdout.split('\n').filter((l) => l.trim()).length;
  return {
    seconds: r.seconds,
    note: `${String(series)} series explained, load ${load0.toFixed(1)}→${load1().toFixed(1)}`,
  };
}

async function anonymiseAlone(spool: string, out: string, configFile: string): Promise<StageFigures> {
  const load0 = load1();
  const r = await cli(['anonymise', spool, out], configFile);
  const last = r.stdout.trim().split('\n').pop() ?? '';
  return { seconds: r.seconds, note: `${last} load ${load0.toFixed(1)}→${load1().toFixed(1)}` };
}

async function deliverAlone(anonymised: string, expected: number): Promise<StageFigures> {
  const xnat = await startFakeXnatProcess();
  try {
    const yaml = gatewayYaml(xnat, work, 'none');
    const first = await startGateway(work, 'deliver', { quietPeriodMs: PAUSED_MS, extraYaml: yaml });
    await pushLanes(first.port, [[anonymised]]);
    await first.stop();
    const load0 = load1();
    const t0 = Date.now();
    const gw = await startGateway(work, 'deliver-restart', {
      quietPeriodMs: 1000,
      extraYaml: yaml,
      dataDir: first.dataDir,
    });
    const rows = await untilDelivered(gw, expected, 3_600_000);
    const cpu = cpuSeconds(gw.pid);
    await gw.stop();
    const lastMs = Math.max(...rows.map((r) => r.deliveredAt ?? 0));
    const failed = rows.filter((r) => r.state !== 'delivered').length;
    return {
      seconds: (lastMs - t0) / 1000,
      note: `${String(rows.length)} batches${failed ? `, ${String(failed)} FAILED` : ''}, gateway CPU ${cpu.toFixed(1)} s (start-up included), load ${load0.toFixed(1)}→${load1().toFixed(1)}`,
    };
  } finally {
    await xnat.stop();
  }
}

async function pipeline(
  set: PipelineSet,
): Promise<{ wall: number; rows: SeriesRow[]; cpu: number; rss: number; load: string; pushSeconds: number }> {
  const xnat = await startFakeXnatProcess();
  try {
    const gw = await startGateway(work, 'pipeline', {
      quietPeriodMs: quietMs,
      extraYaml: gatewayYaml(xnat, work, 'basic'),
    });
    const cpu0 = cpuSeconds(gw.pid);
    const load0 = load1();
    const t = await pushLanes(gw.port, dealt(set));
    const rows = await untilDelivered(gw, set.series.length, 3_600_000);
    const cpu = cpuSeconds(gw.pid) - cpu0;
    const rss = peakRssMb(gw.pid);
    await gw.stop();
    const lastMs = Math.max(...rows.map((r) => r.deliveredAt ?? 0));
    return {
      wall: (lastMs - t.startMs) / 1000,
      rows,
      cpu,
      rss,
      load: `${load0.toFixed(1)}→${load1().toFixed(1)}`,
      pushSeconds: (t.endMs - t.startMs) / 1000,
    };
  } finally {
    await xnat.stop();
  }
}

function printLatency(set: PipelineSet, rows: readonly SeriesRow[]): void {
  const kindOf = new Map<string, SetSeries['kind']>(set.series.map((s) => [s.seriesUid, s.kind]));
  const byKind = new Map<string, number[]>();
  for (const r of rows) {
    if (r.deliveredAt === null) {
      continue;
    }
    const k = kindOf.get(r.seriesUid) ?? 'other';
    const l = byKind.get(k) ?? [];
    l.push((r.deliveredAt - r.lastInstanceAt - quietMs) / 1000);
    byKind.set(k, l);
  }
  console.log(`latency, last instance → verified arrival − quiet period (${String(quietMs / 1000)} s), seconds:`);
  for (const [k, l] of [...byKind.entries()].sort()) {
    console.log(
      `  ${k.padEnd(9)} ${String(l.length).padStart(3)} series: median ${pct(l, 50).toFixed(2)}, p90 ${pct(l, 90).toFixed(2)}, max ${Math.max(...l).toFixed(2)}${k === 'CT' ? '  (goal ≤ 5 s for a 500-instance CT series)' : ''}`,
    );
  }
}

async function main(): Promise<void> {
  const mix = {
    total: Number(values.total),
    ctSeries: Number(values['ct-series']),
    ctSlices: Number(values['ct-slices']),
    mrSeries: Number(values['mr-series']),
    mrImages: Number(values['mr-images']),
  };
  console.log(
    `xnat-gateway pipeline bench, ${new Date().toISOString()}, Node ${process.version}, ${String(cpus().length)} CPUs; load ${load1().toFixed(2)}`,
  );
  const set = await writePipelineSet(join(work, 'set'), mix);
  const kinds = new Map<string, { series: number; instances: number }>();
  for (const s of set.series) {
    const k = kinds.get(s.kind) ?? { series: 0, instances: 0 };
    k.series++;
    k.instances += s.count;
    kinds.set(s.kind, k);
  }
  console.log(
    `set: ${String(set.count)} instances, ${(set.bytes / 1e9).toFixed(2)} GB, ${String(set.series.length)} series (${[...kinds.entries()].map(([k, v]) => `${k} ${String(v.series)}×${String(Math.round(v.instances / v.series))}`).join(', ')}); ${String(senders)} senders; quiet period ${String(quietMs)} ms`,
  );

  const cliConfig = join(work, 'cli.yaml');
  writeFileSync(cliConfig, `dataDir: ${join(work, 'cli-data')}\nlog: { level: warn }\nspool: { minFreeBytes: 0 }\n`);
  const startup = await cli(['check-config'], cliConfig);

  const p = await pipeline(set);
  const failed = p.rows.filter((r) => r.state !== 'delivered');
  console.log(
    `\npipeline: wall ${p.wall.toFixed(1)} s from the first instance sent to the last verified arrival (${(set.count / p.wall).toFixed(0)} instances/s); push took ${p.pushSeconds.toFixed(1)} s; ${String(p.rows.length)} batches${failed.length ? `, ${String(failed.length)} NOT delivered` : ''}; gateway CPU ${((p.cpu * 1000) / set.count).toFixed(2)} ms/instance, peak RSS ${p.rss.toFixed(0)} MB; load ${p.load}`,
  );
  printLatency(set, p.rows);

  const receive = await receiveAlone(set);
  const route = await routeAlone(receive.spool, cliConfig);
  const out = join(work, 'anonymised');
  const anonymise = await anonymiseAlone(receive.spool, out, cliConfig);
  rmSync(receive.spool, { recursive: true, force: true });
  const deliver = await deliverAlone(out, p.rows.length);
  const stages: [string, StageFigures][] = [
    ['receive', receive.stage],
    ['route', route],
    ['anonymise', anonymise],
    ['deliver', deliver],
  ];
  console.log(
    `\nstages alone (CLI start-up, measured with check-config: ${startup.seconds.toFixed(2)} s, included in route and anonymise):`,
  );
  for (const [name, s] of stages) {
    console.log(
      `  ${name.padEnd(10)} ${s.seconds.toFixed(1).padStart(7)} s  ${(set.count / s.seconds).toFixed(0).padStart(6)} instances/s  ${s.note}`,
    );
  }
  const slowest = stages.reduce((a, b) => (b[1].seconds > a[1].seconds ? b : a));
  const sum = stages.reduce((a, [, s]) => a + s.seconds, 0);
  console.log(
    `overlap ratio: wall / slowest stage (${slowest[0]}) = ${p.wall.toFixed(1)} / ${slowest[1].seconds.toFixed(1)} = ${(p.wall / slowest[1].seconds).toFixed(2)} (goal ≤ 1.25; no overlap at all would give ${(sum / slowest[1].seconds).toFixed(2)})`,
  );
  if (!values.keep) {
    rmSync(work, { recursive: true, force: true });
  } else {
    console.log(`kept: ${work}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  if (!values.keep) {
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(1);
});
