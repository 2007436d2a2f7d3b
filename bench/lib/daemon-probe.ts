//! A probe preloaded into a benchmarked daemon (`node --import bench/lib/daemon-probe.ts …`): measures one window of its life from the inside.
// The benches must not reach into src/ (it is being restructured), so what only the process itself
// can see is measured here: SIGUSR2 opens a window, a second SIGUSR2 closes it and writes
// `$XG_PROBE_OUT.json` (and `$XG_PROBE_OUT.cpuprofile` with XG_PROBE_CPU_PROFILE=1). Measured over
// the window: CPU time (user, system), event-loop delay and utilisation, garbage collections,
// socket pause/resume (the receiver's back-pressure), and every write/writev/fsync the JavaScript
// side issues through node:fs (SQLite's own writes are native; strace sees those). The daemon's
// code is unchanged; only fs and net.Socket methods are wrapped, which costs well under a
// microsecond per call.
import Database from 'better-sqlite3';
import fs from 'node:fs';
import { Session } from 'node:inspector/promises';
import net from 'node:net';
import { monitorEventLoopDelay, performance, PerformanceObserver, type PerformanceEntry } from 'node:perf_hooks';

const out = process.env.XG_PROBE_OUT;
const wantProfile = process.env.XG_PROBE_CPU_PROFILE === '1';

/** Size classes of the writes the spool receives: [upper bound in bytes, count]. */
const BUCKETS = [512, 4096, 16384, 65536, 131072, 262144, 1048576, Infinity];

interface Counters {
  writes: number;
  writevs: number;
  writevBuffers: number;
  writeBytes: number;
  sizes: number[];
  fsyncs: number;
  fdatasyncs: number;
  opens: number;
  closes: number;
  pauses: number;
  resumes: number;
  pausedMs: number;
  gcCount: number;
  gcMs: number;
  gcByKind: Record<string, { count: number; ms: number }>;
  /** Time from each fs call to its callback (thread-pool queueing included), per call name. */
  fsMs: Record<string, number>;
  /** Outermost SQLite transactions (BEGIN … COMMIT, the WAL fsync included), run on the main thread. */
  transactions: number;
  transactionMs: number;
  /** Nested transactions (savepoints) inside them: their bodies. */
  nestedMs: number;
}

const fresh = (): Counters => ({
  writes: 0,
  writevs: 0,
  writevBuffers: 0,
  writeBytes: 0,
  sizes: BUCKETS.map(() => 0),
  fsyncs: 0,
  fdatasyncs: 0,
  opens: 0,
  closes: 0,
  pauses: 0,
  resumes: 0,
  pausedMs: 0,
  gcCount: 0,
  gcMs: 0,
  gcByKind: {},
  fsMs: {},
  transactions: 0,
  transactionMs: 0,
  nestedMs: 0,
});
let c = fresh();
let open = false;

function sized(n: number): void {
  c.writeBytes += n;
  const i = BUCKETS.findIndex((b) => n <= b);
  c.sizes[i] = (c.sizes[i] ?? 0) + 1;
}

// fs: WriteStream and FileHandle-less callers go through these module functions at call time.
type Fn = (...args: unknown[]) => unknown;
const wrap = (name: string, count: (args: unknown[]) => void): void => {
  const f = (fs as unknown as Record<string, Fn>)[name];
  if (typeof f !== 'function') {
    return;
  }
  (fs as unknown as Record<string, Fn>)[name] = function (this: unknown, ...args: unknown[]) {
    if (!open) {
      return f.apply(this, args);
    }
    count(args);
    const cb = args[args.length - 1];
    if (typeof cb === 'function') {
      const t0 = performance.now();
      args[args.length - 1] = (...r: unknown[]) => {
        c.fsMs[name] = (c.fsMs[name] ?? 0) + performance.now() - t0;
        return (cb as Fn)(...r);
      };
    }
    return f.apply(this, args);
  };
};
wrap('write', (a) => {
  c.writes++;
  const b = a[1];
  if (Buffer.isBuffer(b) || b instanceof Uint8Array) {
    sized(typeof a[3] === 'number' ? a[3] : b.length);
  }
});
wrap('writev', (a) => {
  c.writevs++;
  const list = a[1] as readonly Uint8Array[];
  c.writevBuffers += list.length;
  sized(list.reduce((s, b) => s + b.length, 0));
});
wrap('fsync', () => c.fsyncs++);
wrap('fdatasync', () => c.fdatasyncs++);
wrap('open', () => c.opens++);
wrap('close', () => c.closes++);

// better-sqlite3: every transaction the daemon defines is timed (the outermost ones and, apart,
// the nested ones), so the time the main thread spends blocked in COMMIT shows.
let depth = 0;
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with its own `this` below
const { transaction } = Database.prototype;
Database.prototype.transaction = function (this: Database.Database, fn: Fn) {
  const t = transaction.call(this, fn) as unknown as Fn & Record<string, Fn>;
  const timed = (g: Fn): Fn =>
    function (this: unknown, ...args: unknown[]) {
      if (!open) {
        return g.apply(this, args);
      }
      const t0 = performance.now();
      depth++;
      try {
        return g.apply(this, args);
      } finally {
        depth--;
        const ms = performance.now() - t0;
        if (depth === 0) {
          c.transactions++;
          c.transactionMs += ms;
        } else if (depth === 1) {
          c.nestedMs += ms;
        }
      }
    };
  const out = timed(t);
  for (const k of ['default', 'deferred', 'immediate', 'exclusive']) {
    Object.defineProperty(out, k, { value: timed(t[k] as Fn) });
  }
  return out;
} as typeof transaction;

// net.Socket: the receiver pauses a connection while its spool file is behind the network.
const pausedAt = new WeakMap<net.Socket, number>();
// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the socket as `this` below
const { pause, resume } = net.Socket.prototype;
net.Socket.prototype.pause = function (this: net.Socket) {
  if (open && !pausedAt.has(this)) {
    c.pauses++;
    pausedAt.set(this, performance.now());
  }
  return pause.call(this);
};
net.Socket.prototype.resume = function (this: net.Socket) {
  const at = pausedAt.get(this);
  if (open && at !== undefined) {
    c.resumes++;
    c.pausedMs += performance.now() - at;
  }
  pausedAt.delete(this);
  return resume.call(this);
};

// perf_hooks constants NODE_PERFORMANCE_GC_MINOR, _MAJOR, _INCREMENTAL, _WEAKCB.
const gcKinds: Record<number, string> = { 1: 'minor', 4: 'major', 8: 'incremental', 16: 'weak-callbacks' };
new PerformanceObserver((list) => {
  if (!open) {
    return;
  }
  for (const e of list.getEntries() as (PerformanceEntry & { detail?: unknown })[]) {
    const kind = gcKinds[(e.detail as { kind?: number } | undefined)?.kind ?? 0] ?? 'other';
    c.gcCount++;
    c.gcMs += e.duration;
    const k = (c.gcByKind[kind] ??= { count: 0, ms: 0 });
    k.count++;
    k.ms += e.duration;
  }
}).observe({ entryTypes: ['gc'] });

const delay = monitorEventLoopDelay({ resolution: 1 });
let start: {
  cpu: NodeJS.CpuUsage;
  at: number;
  epochMs: number;
  elu: ReturnType<typeof performance.eventLoopUtilization>;
  ru: NodeJS.ResourceUsage;
} | null = null;
let session: Session | null = null;

async function openWindow(): Promise<void> {
  c = fresh();
  delay.reset();
  delay.enable();
  if (wantProfile) {
    session = new Session();
    session.connect();
    await session.post('Profiler.enable');
    await session.post('Profiler.setSamplingInterval', { interval: 200 });
    await session.post('Profiler.start');
  }
  start = {
    cpu: process.cpuUsage(),
    at: performance.now(),
    epochMs: Date.now(),
    elu: performance.eventLoopUtilization(),
    ru: process.resourceUsage(),
  };
  open = true;
}

async function closeWindow(): Promise<void> {
  const s = start;
  if (!s || !out) {
    return;
  }
  open = false;
  const cpu = process.cpuUsage(s.cpu);
  const wallMs = performance.now() - s.at;
  const elu = performance.eventLoopUtilization(s.elu);
  const ru = process.resourceUsage();
  delay.disable();
  if (session) {
    const { profile } = await session.post('Profiler.stop');
    fs.writeFileSync(`${out}.cpuprofile`, JSON.stringify(profile));
    session.disconnect();
    session = null;
  }
  const ms = (ns: number): number => Math.round(ns / 1e4) / 100;
  fs.writeFileSync(
    `${out}.json`,
    JSON.stringify({
      // Epoch times of the window, for tools that log their own timestamps (strace -ttt).
      windowStartMs: s.epochMs,
      windowEndMs: Date.now(),
      wallMs,
      userMs: cpu.user / 1000,
      systemMs: cpu.system / 1000,
      eventLoopUtilization: elu.utilization,
      eventLoopDelayMs: {
        mean: ms(delay.mean),
        p50: ms(delay.percentile(50)),
        p99: ms(delay.percentile(99)),
        max: ms(delay.max),
      },
      voluntaryContextSwitches: ru.voluntaryContextSwitches - s.ru.voluntaryContextSwitches,
      involuntaryContextSwitches: ru.involuntaryContextSwitches - s.ru.involuntaryContextSwitches,
      maxRssMb: ru.maxRSS / 1024,
      buckets: BUCKETS.map(String),
      ...c,
    }),
  );
  start = null;
}

if (out) {
  fs.writeFileSync(`${out}.pid`, String(process.pid));
  process.on('SIGUSR2', () => {
    (start ? closeWindow() : openWindow()).catch((err: unknown) => {
      process.stderr.write(`daemon-probe: ${String(err)}\n`);
    });
  });
}
