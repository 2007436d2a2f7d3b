// xnat-rest delivery benchmark: one series streamed as a DICOM-zip to the fake XNAT's import
// service, in MB/s, with the gateway process's peak RSS. Prints figures; asserts nothing.
//   ./gateway npm run bench:rest -- [--mb 500] [--small-mb 100]
//
// Two series sizes are sent (--small-mb, then --mb) so the figures show whether memory tracks the
// series size: it must not (the zip is written as XNAT reads it). The fake runs in its own process
// (bench/fake-xnat-server.ts); it unzips and parses every entry before answering, as XNAT does with
// dest=/prearchive, so the time includes its work.
import { spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { systemClock } from '../src/clock.ts';
import { createEvents } from '../src/events.ts';
import { createLogger } from '../src/log.ts';
import { xnatRestSinkConfig } from '../src/sinks/xnat-rest/config.ts';
import { create } from '../src/sinks/xnat-rest/index.ts';
import { writeSnapshot } from '../test/helpers/snapshot-files.ts';

const { values } = parseArgs({
  options: { mb: { type: 'string', default: '500' }, 'small-mb': { type: 'string', default: '100' } },
});
const INSTANCE_BYTES = 512 * 512 * 2;
const work = mkdtempSync(join(tmpdir(), 'xg-bench-rest-'));
const server = spawn(process.execPath, [new URL('./fake-xnat-server.ts', import.meta.url).pathname], {
  stdio: ['ignore', 'pipe', 'inherit'],
});
try {
  const first = await new Promise<string>((resolve) => {
    createInterface({ input: server.stdout }).once('line', resolve);
  });
  const { url } = JSON.parse(first) as { url: string };
  const secret = join(work, 'pw');
  writeFileSync(secret, 'gw');
  chmodSync(secret, 0o600);
  const ctx = { log: createLogger('silent'), clock: systemClock, events: createEvents() };
  const sink = create(
    xnatRestSinkConfig.parse({
      type: 'xnat-rest',
      url,
      user: 'gw',
      passwordFile: secret,
      dest: 'prearchive',
      verify: false,
    }),
    ctx,
    { projects: ['HOSPITAL'] },
  );
  console.log(`xnat-rest → fake XNAT (${url}), dest=prearchive, one series per run, 512×512 CT instances`);
  let n = 0;
  for (const mb of [Number(values['small-mb']), Number(values.mb)]) {
    const count = Math.ceil((mb * 1024 * 1024) / INSTANCE_BYTES);
    const labels = { project: 'HOSPITAL', subject: `BENCH_${String(++n)}`, session: `BENCH_${String(n)}_01` };
    const series = await writeSnapshot(join(work, `s${String(n)}`), {
      count,
      labels,
      instance: { rows: 512, columns: 512, privateBlock: false },
    });
    const bytes = series.instances.reduce((a, i) => a + i.size, 0);
    global.gc?.();
    const base = process.memoryUsage().rss;
    let peak = base;
    const sampler = setInterval(() => {
      peak = Math.max(peak, process.memoryUsage().rss);
    }, 20);
    const t0 = process.hrtime.bigint();
    const d = await sink.deliver(series, {
      ...ctx,
      jobId: n,
      attempt: 1,
      workDir: work,
      signal: AbortSignal.timeout(1_800_000),
    });
    const s = Number(process.hrtime.bigint() - t0) / 1e9;
    clearInterval(sampler);
    peak = Math.max(peak, process.memoryUsage().rss);
    if (d.outcome !== 'delivered') {
      throw new Error(`delivery failed: ${JSON.stringify(d)}`);
    }
    const mib = bytes / 1024 / 1024;
    console.log(
      `${String(count).padStart(5)} instances, ${mib.toFixed(0).padStart(4)} MiB: ${s.toFixed(2)} s, ${(mib / s).toFixed(1)} MiB/s; RSS before ${(base / 1048576).toFixed(0)} MiB, peak ${(peak / 1048576).toFixed(0)} MiB (+${((peak - base) / 1048576).toFixed(0)} MiB)`,
    );
    rmSync(join(work, `s${String(n)}`), { recursive: true, force: true });
  }
} finally {
  server.kill('SIGTERM');
  rmSync(work, { recursive: true, force: true });
}
