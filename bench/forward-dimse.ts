//! Forwarding benchmark: the xnat-dimse sink (our C-STORE SCU) against DCMTK storescu, sending the
// same series to the same DCMTK storescp. Prints figures; asserts nothing about speed.
//   ./gateway node bench/forward-dimse.ts [--count 1000] [--runs 3] [--cpu-prof DIR]
//
// Data: --count CT instances of 512×512 16-bit (~525 KB each), explicit VR little endian, one
// series, written once into a temporary directory by the test factory.
// Receiver: one `storescp +B -pdu 131072 -od OUT PORT` (single process, bit-preserving), kept for
// the whole benchmark; OUT is emptied and `sync` run (untimed) before every run.
// Rows, run alternately --runs times each; the table shows the median:
// - storescu: `storescu -aec XNAT -pdu 131072 +sd DIR` with TCP_NODELAY=1 (without it DCMTK waits
//   out delayed ACKs), under GNU time: spawn to exit, including its scan of the directory.
// - xnat-dimse: `deliver()` of src/sinks/xnat-dimse on a SeriesSnapshot built by hand, in a child
//   Node process (so its peak RSS is its own); the time is the call only (association, every
//   C-STORE, release), as in the daemon, which knows the instances from its database.
// --ignore runs storescp with --ignore (receive, do not store): the senders' own cost, without the
// receiver's file writes that otherwise dominate.
// --cpu-prof DIR adds `--cpu-prof --cpu-prof-dir=DIR` to the sink child.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, openSync, readSync, closeSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.ts';
import { parsePart10Header } from '../src/dicom/part10.ts';
import { createEvents } from '../src/events.ts';
import { createLogger } from '../src/log.ts';
import type { SeriesSnapshot } from '../src/contracts/series.ts';
import { xnatDimseSinkConfig } from '../src/sinks/xnat-dimse/config.ts';
import { create } from '../src/sinks/xnat-dimse/index.ts';
import { newUid, writeSeries } from '../test/helpers/dicom-factory.ts';
import { freePort, run, spawnLogged, waitForPort } from '../test/helpers/peers.ts';

const { values, positionals } = parseArgs({
  options: {
    count: { type: 'string', default: '1000' },
    runs: { type: 'string', default: '3' },
    'cpu-prof': { type: 'string' },
    ignore: { type: 'boolean', default: false },
    /** Internal: deliver DIR to 127.0.0.1:PORT with the sink and print JSON. */
    child: { type: 'boolean', default: false },
  },
  allowPositionals: true,
});

interface Measured {
  readonly seconds: number;
  readonly maxRssMb: number;
  /** The sink child's RSS just before deliver(): Node plus the gateway's modules. */
  readonly rssBeforeMb?: number;
}

/** The child: build the snapshot (untimed), then time deliver(). */
async function child(dir: string, port: number): Promise<void> {
  const files = readdirSync(dir).sort();
  const head = Buffer.alloc(64 * 1024);
  const instances = files.map((f, i) => {
    const path = join(dir, f);
    const fd = openSync(path, 'r');
    const n = readSync(fd, head, 0, head.length, 0);
    closeSync(fd);
    const meta = parsePart10Header(head.subarray(0, n));
    if (!meta?.sopInstanceUid || !meta.sopClassUid) {
      throw new Error(`${path}: no file meta`);
    }
    return {
      instanceId: i + 1,
      sopInstanceUid: meta.sopInstanceUid,
      sopClassUid: meta.sopClassUid,
      transferSyntaxUid: meta.transferSyntaxUid,
      instanceNumber: i + 1,
      path,
      size: statSync(path).size,
    };
  });
  const snapshot: SeriesSnapshot = {
    seriesId: 1,
    studyInstanceUid: newUid(),
    seriesInstanceUid: newUid(),
    batch: 1,
    modality: 'CT',
    instances,
    labels: { project: 'BENCH', subject: 'BENCH_001', session: 'BENCH_001_01' },
  };
  const ctx = { log: createLogger('silent'), clock: systemClock, events: createEvents() };
  const sink = create(
    xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: '127.0.0.1', port, calledAe: 'XNAT' }),
    ctx,
  );
  const rssBeforeMb = process.memoryUsage().rss / 1e6;
  const t0 = process.hrtime.bigint();
  const d = await sink.deliver(snapshot, {
    ...ctx,
    jobId: 1,
    attempt: 1,
    workDir: dir,
    signal: new AbortController().signal,
  });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (d.outcome !== 'delivered') {
    throw new Error(`Delivery failed: ${JSON.stringify(d)}`);
  }
  console.log(JSON.stringify({ seconds, maxRssMb: process.resourceUsage().maxRSS / 1024, rssBeforeMb }));
}

function runChild(dir: string, port: number): Promise<Measured> {
  const prof = values['cpu-prof'];
  const flags = prof === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${prof}`];
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [...flags, new URL(import.meta.url).pathname, '--child', dir, String(port)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    p.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    p.once('error', reject);
    p.once('close', (code) => {
      if (code !== 0) {
        reject(new Error(`sink child exited ${String(code)}: ${out}`));
      } else {
        resolve(JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as Measured);
      }
    });
  });
}

async function runStorescu(dir: string, port: number): Promise<Measured> {
  const t0 = process.hrtime.bigint();
  const r = await run(
    '/usr/bin/time',
    ['-f', '%M', 'storescu', '-aec', 'XNAT', '-pdu', '131072', '+sd', '127.0.0.1', String(port), dir],
    { timeoutMs: 600_000 },
  );
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.code !== 0) {
    throw new Error(`storescu failed: ${r.stderr}`);
  }
  const rssKb = Number(r.stderr.trim().split('\n').at(-1));
  return { seconds, maxRssMb: rssKb / 1024 };
}

const median = (xs: readonly number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

async function main(): Promise<void> {
  const count = Number(values.count);
  const runs = Number(values.runs);
  const work = mkdtempSync(join(tmpdir(), 'xg-bench-forward-'));
  try {
    const dir = join(work, 'series');
    const out = join(work, 'received');
    mkdirSync(out);
    await writeSeries(dir, { count, rows: 512, columns: 512 });
    const bytes = readdirSync(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    const port = await freePort();
    const scp = spawnLogged('storescp', [
      '+B',
      '-pdu',
      '131072',
      ...(values.ignore ? ['--ignore'] : []),
      '-od',
      out,
      String(port),
    ]);
    await waitForPort(port);
    const results: Record<'storescu' | 'xnat-dimse', Measured[]> = { storescu: [], 'xnat-dimse': [] };
    try {
      for (let r = 0; r < runs; r++) {
        // Alternate which goes first, so neither always meets a warmer page cache or receiver.
        const order = r % 2 === 0 ? (['storescu', 'xnat-dimse'] as const) : (['xnat-dimse', 'storescu'] as const);
        for (const tool of order) {
          rmSync(out, { recursive: true, force: true });
          mkdirSync(out);
          await run('sync', []);
          const m = tool === 'storescu' ? await runStorescu(dir, port) : await runChild(dir, port);
          const received = readdirSync(out).length;
          if (!values.ignore && received !== count) {
            throw new Error(`${tool}: storescp holds ${String(received)} of ${String(count)} files`);
          }
          results[tool].push(m);
          console.log(`run ${String(r + 1)} ${tool}: ${m.seconds.toFixed(2)} s, peak RSS ${m.maxRssMb.toFixed(0)} MB`);
        }
      }
    } finally {
      await scp.stop();
    }
    const mb = bytes / 1e6;
    console.log(
      `\nForwarding ${String(count)} CT instances (512×512, ${mb.toFixed(0)} MB) to storescp +B${values.ignore ? ' --ignore' : ''} over loopback, ${String(runs)} runs each (median):`,
    );
    console.log('| sender | median s | img/s | MB/s | peak RSS MB | RSS before deliver() MB |');
    console.log('|---|---|---|---|---|---|');
    for (const tool of ['storescu', 'xnat-dimse'] as const) {
      const s = median(results[tool].map((m) => m.seconds));
      const before = results[tool].map((m) => m.rssBeforeMb).filter((x) => x !== undefined);
      console.log(
        `| ${tool} | ${s.toFixed(2)} | ${(count / s).toFixed(0)} | ${(mb / s).toFixed(0)} | ${median(results[tool].map((m) => m.maxRssMb)).toFixed(0)} | ${before.length ? median(before).toFixed(0) : '–'} |`,
      );
    }
    const ratio = median(results.storescu.map((m) => m.seconds)) / median(results['xnat-dimse'].map((m) => m.seconds));
    console.log(`\nThroughput ratio xnat-dimse / storescu: ${ratio.toFixed(2)} (goal ≥ 0.9)`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

if (values.child) {
  await child(positionals[0] ?? '', Number(positionals[1]));
} else {
  await main();
}
