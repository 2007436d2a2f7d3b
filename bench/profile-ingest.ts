// Where the receiver's time goes, per instance: storescu → the gateway as a child process, measured
// over the push alone (bench/lib/daemon-probe.ts opens and closes the window). Prints figures;
// asserts nothing. One mode per run, since each measurement disturbs the others:
//   probe   CPU (user/system) per instance, event-loop delay and utilisation, GC, socket
//           pauses (back-pressure), every write/writev/fsync issued from JavaScript
//   cpu     the same plus a V8 CPU profile of the window: self time by function and by file, and
//           time under each of our functions (node and library calls charged to their caller)
//   strace  the daemon under `strace -f -ttt`: system calls per instance; reads, writes and syncs by
//           target (socket, spool file, SQLite WAL, database), spool write and socket read sizes
//   perf    `perf record -g` of the window (node --perf-basic-prof): user/kernel split, top symbols
//   ./gateway node bench/profile-ingest.ts [--set ct|small] [--count N] [--assoc 1|4] [--mode probe|cpu|strace|perf] [--keep]
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { printRows, summariseProfile } from './lib/cpuprofile.ts';
import { cpuSeconds, load1, push, startGateway, type GatewayOptions, type ProbeResult } from './lib/gateway.ts';
import { ctSet, smallSet, type InstanceSet } from './lib/sets.ts';
import { parseStrace } from './lib/strace.ts';
import { run } from '../test/helpers/peers.ts';

const { values } = parseArgs({
  options: {
    set: { type: 'string', default: 'ct' },
    count: { type: 'string' },
    assoc: { type: 'string', default: '1' },
    mode: { type: 'string', default: 'probe' },
    keep: { type: 'boolean', default: false },
  },
});
const work = mkdtempSync(join(tmpdir(), 'xg-profile-'));
const mode = values.mode;
const assoc = Number(values.assoc);

function printProbe(p: ProbeResult, n: number): void {
  const per = (x: number): string => (x / n).toFixed(3);
  console.log(
    `daemon CPU per instance: ${per(p.userMs + p.systemMs)} ms (user ${per(p.userMs)}, system ${per(p.systemMs)}); window ${(p.wallMs / 1000).toFixed(2)} s, ${(n / (p.wallMs / 1000)).toFixed(0)} instances/s`,
  );
  console.log(
    `event loop: utilisation ${(p.eventLoopUtilization * 100).toFixed(0)} %, delay mean ${String(p.eventLoopDelayMs.mean)} ms, p50 ${String(p.eventLoopDelayMs.p50)}, p99 ${String(p.eventLoopDelayMs.p99)}, max ${String(p.eventLoopDelayMs.max)}`,
  );
  console.log(
    `GC: ${String(p.gcCount)} collections, ${p.gcMs.toFixed(0)} ms (${per(p.gcMs)} ms/instance): ${Object.entries(
      p.gcByKind,
    )
      .map(([k, v]) => `${k} ${String(v.count)} × ${(v.ms / v.count).toFixed(2)} ms`)
      .join(', ')}`,
  );
  console.log(
    `context switches per instance: voluntary ${per(p.voluntaryContextSwitches)}, involuntary ${per(p.involuntaryContextSwitches)}; peak RSS ${p.maxRssMb.toFixed(0)} MB`,
  );
  console.log(
    `fs calls from JavaScript per instance: write ${per(p.writes)}, writev ${per(p.writevs)} (${(p.writevBuffers / Math.max(1, p.writevs)).toFixed(1)} buffers each), fsync ${per(p.fsyncs)}, fdatasync ${per(p.fdatasyncs)}, open ${per(p.opens)}, close ${per(p.closes)}; ${(p.writeBytes / n / 1024).toFixed(1)} KiB written`,
  );
  console.log(
    `  write sizes (≤ bytes: count): ${p.buckets.map((b, i) => `${b}: ${String(p.sizes[i] ?? 0)}`).join(', ')}`,
  );
  console.log(
    `fs call → callback, ms per instance: ${Object.entries(p.fsMs)
      .map(([k, v]) => `${k} ${per(v)}`)
      .join(', ')}`,
  );
  console.log(
    `SQLite on the main thread: ${String(p.transactions)} outermost transactions (${(n / Math.max(1, p.transactions)).toFixed(1)} instances each), ${per(p.transactionMs)} ms/instance, of which nested bodies ${per(p.nestedMs)} ms`,
  );
  console.log(
    `socket back-pressure: ${String(p.pauses)} pauses (${per(p.pauses)} per instance), ${p.pausedMs.toFixed(0)} ms paused in all (${per(p.pausedMs)} ms/instance)`,
  );
}

function printStrace(file: string, n: number, p: ProbeResult): void {
  const s = parseStrace(file, p.windowStartMs, p.windowEndMs);
  const top = [...s.calls.entries()].sort((a, b) => b[1].calls - a[1].calls).slice(0, 18);
  console.log('system calls per instance within the window (all threads; strace -f):');
  for (const [name, c] of top) {
    console.log(
      `  ${name.padEnd(18)} ${(c.calls / n).toFixed(2).padStart(8)}${c.errors ? `  (${(c.errors / n).toFixed(2)} failed)` : ''}`,
    );
  }
  console.log('reads, writes and syncs by target, per instance:');
  for (const [k, v] of [...s.io.entries()].sort()) {
    console.log(
      `  ${k.padEnd(22)} ${(v.calls / n).toFixed(2).padStart(8)} calls  ${(v.bytes / n / 1024).toFixed(1).padStart(8)} KiB`,
    );
  }
  const sizes = [...s.spoolWriteSizes.entries()].sort((a, b) => b[1] - a[1]).slice(0, 8);
  console.log(`  commonest spool write sizes: ${sizes.map(([b, c]) => `${String(b)} B × ${String(c)}`).join(', ')}`);
  const reads = [...s.socketReadSizes.entries()].sort((a, b) => a[0] - b[0]);
  console.log(
    `  socket reads by size (≤ KiB: count): ${reads.map(([k, c]) => `${String(k)}: ${String(c)}`).join(', ')}`,
  );
}

async function perfReport(file: string): Promise<void> {
  const base = ['report', '-i', file, '--no-children', '--stdio', '--percent-limit', '1.5'];
  const bySpace = await run('perf', [...base, '--sort', 'dso'], { timeoutMs: 600_000 });
  console.log(
    bySpace.stdout
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .slice(0, 20)
      .join('\n'),
  );
  const bySym = await run('perf', [...base, '--sort', 'sym', '-g', 'none'], { timeoutMs: 600_000 });
  console.log(
    bySym.stdout
      .split('\n')
      .filter((l) => l && !l.startsWith('#'))
      .slice(0, 40)
      .join('\n'),
  );
}

async function profileSet(set: InstanceSet): Promise<void> {
  const o: GatewayOptions = {
    probe: true,
    cpuProfile: mode === 'cpu',
    ...(mode === 'strace' ? { wrap: ['strace', '-f', '-ttt', '-qq', '-o', join(work, 'strace.log')] } : {}),
    ...(mode === 'perf' ? { nodeFlags: ['--perf-basic-prof'] } : {}),
  };
  const gw = await startGateway(work, `gw-${mode}`, o);
  const cpu0 = cpuSeconds(gw.pid);
  const loadBefore = load1();
  gw.mark();
  await new Promise((r) => setTimeout(r, 300)); // the window (and profiler) is open before data flows
  const perf =
    mode === 'perf'
      ? spawn('perf', ['record', '-q', '-g', '-F', '999', '-p', String(gw.pid), '-o', join(work, 'perf.data')], {
          stdio: 'ignore',
        })
      : null;
  const seconds = await push(gw.port, 'XNAT', assoc === 1 ? [set.dir] : set.parts);
  perf?.kill('SIGINT');
  gw.mark();
  const p = await gw.probe();
  const cpu = cpuSeconds(gw.pid) - cpu0;
  await gw.stop();
  console.log(
    `\n${set.label}: ${String(set.count)} × ${(set.fileBytes / 1024).toFixed(0)} KiB, ${String(assoc)} association(s), mode ${mode}; load average ${loadBefore.toFixed(2)} → ${load1().toFixed(2)}`,
  );
  console.log(
    `storescu push ${seconds.toFixed(2)} s, ${(set.count / seconds).toFixed(0)} instances/s; daemon CPU from /proc ${((cpu * 1000) / set.count).toFixed(3)} ms/instance (includes probe overhead and the 300 ms lead-in)`,
  );
  printProbe(p, set.count);
  if (mode === 'cpu') {
    const s = summariseProfile(readFileSync(gw.profileFile, 'utf8'));
    console.log(`CPU profile of the window: ${s.totalMs.toFixed(0)} ms sampled (idle included)`);
    printRows('self time by file or group', s.files, 20, set.count);
    printRows('self time by function', s.functions, 30, set.count);
    printRows('time under our innermost function', s.underOurs, 30, set.count);
    if (values.keep) {
      console.log(`profile kept: ${gw.profileFile}`);
    }
  }
  if (mode === 'strace') {
    printStrace(join(work, 'strace.log'), set.count, p);
  }
  if (mode === 'perf' && perf) {
    await new Promise((r) => perf.once('exit', r));
    await perfReport(join(work, 'perf.data'));
  }
}

async function main(): Promise<void> {
  const set =
    values.set === 'small'
      ? await smallSet(work, Number(values.count ?? 5000))
      : await ctSet(work, Number(values.count ?? 1000));
  await profileSet(set);
  if (!values.keep) {
    rmSync(work, { recursive: true, force: true });
  } else {
    console.log(`work directory kept: ${work}`);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  if (!values.keep) {
    rmSync(work, { recursive: true, force: true });
  }
  process.exit(1);
});
