//! The gateway as the benches run it: a child process started as `npm start` would, fed by DCMTK storescu, measured from outside.
// Benches talk to the daemon only through its process boundary (config file, ports, signals,
// /proc), so they keep working whatever src/ looks like inside. `probe: true` preloads
// bench/lib/daemon-probe.ts, which measures a window of the daemon's life from the inside.
import { readFileSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../../test/helpers/peers.ts';

const root = new URL('../../', import.meta.url).pathname;
/** Largest PDU storescu sends and the gateway accepts in the benches (DCMTK's default is 16 KiB). */
export const PDU = '131072';

/** What the probe writes for one window (bench/lib/daemon-probe.ts). */
export interface ProbeResult {
  readonly windowStartMs: number;
  readonly windowEndMs: number;
  readonly wallMs: number;
  readonly userMs: number;
  readonly systemMs: number;
  readonly eventLoopUtilization: number;
  readonly eventLoopDelayMs: { mean: number; p50: number; p99: number; max: number };
  readonly voluntaryContextSwitches: number;
  readonly involuntaryContextSwitches: number;
  readonly maxRssMb: number;
  readonly buckets: readonly string[];
  readonly writes: number;
  readonly writevs: number;
  readonly writevBuffers: number;
  readonly writeBytes: number;
  readonly sizes: readonly number[];
  readonly fsyncs: number;
  readonly fdatasyncs: number;
  readonly opens: number;
  readonly closes: number;
  readonly pauses: number;
  readonly resumes: number;
  readonly pausedMs: number;
  readonly gcCount: number;
  readonly gcMs: number;
  readonly gcByKind: Record<string, { count: number; ms: number }>;
  readonly fsMs: Record<string, number>;
  readonly transactions: number;
  readonly transactionMs: number;
  readonly nestedMs: number;
}

export interface GatewayOptions {
  /** Preload the probe (window opened and closed with `mark`). */
  readonly probe?: boolean;
  /** With the probe: also write a V8 CPU profile of the window. */
  readonly cpuProfile?: boolean;
  /** A command the daemon runs under, e.g. ['strace', '-f', '-c', '-o', file]. */
  readonly wrap?: readonly string[];
  /** YAML lines added to the config (after the bench's own keys; do not repeat them). */
  readonly extraYaml?: string;
  /** Default 1 h: the ingest benches measure durable ingest, not delivery. */
  readonly quietPeriodMs?: number;
  /** More V8/Node flags, e.g. --perf-basic-prof. */
  readonly nodeFlags?: readonly string[];
  /** Default `<work>/<name>-data`; pass another run's to restart on its data. */
  readonly dataDir?: string;
}

export interface Gateway {
  readonly proc: LoggedProcess;
  readonly port: number;
  readonly httpPort: number;
  readonly dataDir: string;
  /** The node process (not the wrapper's). */
  readonly pid: number;
  /** Opens, then closes, the probe's window. */
  mark(): void;
  /** The probe's figures for the window just closed (waits for the file). */
  probe(): Promise<ProbeResult>;
  readonly profileFile: string;
  stop(): Promise<void>;
}

/** Starts the daemon (same V8 flags as `npm start` and the container) and waits for its DICOM port. */
export async function startGateway(work: string, name: string, o: GatewayOptions = {}): Promise<Gateway> {
  const [port, httpPort] = [await freePort(), await freePort()];
  const config = join(work, `${name}.yaml`);
  const dataDir = o.dataDir ?? join(work, `${name}-data`);
  writeFileSync(
    config,
    [
      `dataDir: ${dataDir}`,
      `dimse: { port: ${String(port)}, maxPduBytes: ${PDU} }`,
      `http: { port: ${String(httpPort)} }`,
      `series: { quietPeriodMs: ${String(o.quietPeriodMs ?? 3_600_000)} }`,
      'log: { level: warn }',
      'spool: { minFreeBytes: 0 }',
      o.extraYaml ?? '',
    ].join('\n'),
  );
  const probeOut = join(work, `${name}-probe`);
  const node = [
    process.execPath,
    '--max-semi-space-size=32',
    ...(o.nodeFlags ?? []),
    ...(o.probe ? ['--import', join(root, 'bench/lib/daemon-probe.ts')] : []),
    join(root, 'src/cli/main.ts'),
    'run',
    '--config',
    config,
  ];
  const [cmd, ...args] = [...(o.wrap ?? []), ...node];
  const env: Record<string, string> = o.probe
    ? { XG_PROBE_OUT: probeOut, XG_PROBE_CPU_PROFILE: o.cpuProfile ? '1' : '0' }
    : {};
  const proc = spawnLogged(cmd ?? process.execPath, args, { cwd: root, env });
  await waitForPort(port, '127.0.0.1', 60_000).catch((err: unknown) => {
    throw new Error(`${String(err)}\n${proc.output()}`);
  });
  const pid = o.probe ? Number(readFileSync(`${probeOut}.pid`, 'utf8')) : (proc.child.pid ?? 0);
  return {
    proc,
    port,
    httpPort,
    dataDir,
    pid,
    profileFile: `${probeOut}.cpuprofile`,
    mark: () => process.kill(pid, 'SIGUSR2'),
    async probe() {
      for (let i = 0; i < 600; i++) {
        try {
          return JSON.parse(await readFile(`${probeOut}.json`, 'utf8')) as ProbeResult;
        } catch {
          // Not written yet (the profile is serialised first).
          await new Promise((r) => setTimeout(r, 100));
        }
      }
      throw new Error(`The probe wrote nothing to ${probeOut}.json.\n${proc.output().slice(-2000)}`);
    },
    async stop() {
      if (o.wrap) {
        // The daemon, not its wrapper: strace would detach and leave it running. The wrapper
        // exits (writing its summary) once the daemon has.
        process.kill(pid, 'SIGTERM');
        const exited = await Promise.race([
          proc.exited.then(() => true),
          new Promise<boolean>((r) =>
            setTimeout(() => {
              r(false);
            }, 60_000),
          ),
        ]);
        if (exited) {
          return;
        }
        process.kill(pid, 'SIGKILL');
      }
      await proc.stop('SIGTERM', 60_000);
    },
  };
}

/** Peak resident set of a running process (VmHWM), in MB. */
export function peakRssMb(pid: number | undefined): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${String(pid)}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/** utime, stime, cutime, cstime of a process (/proc/PID/stat fields 14–17), in seconds. */
function cpuTimes(pid: number | 'self' | undefined): [number, number, number, number] {
  const stat = readFileSync(`/proc/${String(pid)}/stat`, 'utf8');
  // Fields after the command name (which may hold spaces) start at ") ".
  const f = stat
    .slice(stat.lastIndexOf(') ') + 2)
    .split(' ')
    .map(Number);
  // Index 11–14 after the name; clock ticks of 1/100 s.
  return [f[11] ?? 0, f[12] ?? 0, f[13] ?? 0, f[14] ?? 0].map((t) => t / 100) as [number, number, number, number];
}

/** CPU seconds (user + system) a running process has used, with its reaped children's. */
export function cpuSeconds(pid: number | undefined): number {
  const [u, s, cu, cs] = cpuTimes(pid);
  return u + s + cu + cs;
}

/** CPU seconds of this process's reaped children alone (e.g. the runs of a command it waited for). */
export function reapedChildrenCpuSeconds(): number {
  const [, , cu, cs] = cpuTimes('self');
  return cu + cs;
}

/** The 1-minute load average, for the record next to every figure. */
export function load1(): number {
  return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
}

/**
 * storescu over one association per directory (all at once), `-pdu 131072`, TCP_NODELAY; seconds
 * from the first spawn to the last exit. Throws when any push fails.
 */
export async function push(port: number, aet: string, dirs: readonly string[]): Promise<number> {
  const t0 = process.hrtime.bigint();
  const runs = await Promise.all(
    dirs.map((d) =>
      run('storescu', ['-pdu', PDU, '+sd', '+r', '-aec', aet, '127.0.0.1', String(port), d], { timeoutMs: 3_600_000 }),
    ),
  );
  const failed = runs.find((r) => r.code !== 0);
  if (failed) {
    throw new Error(`storescu → ${aet} failed: ${failed.stderr.slice(-2000)}`);
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}
