//! A daemon run as a child process (`src/cli/main.ts run`), watched: a fatal log line, a stdout line that is not JSON, or an exit nobody asked for fails the running test.
// test/setup/fail-on-unhandled.ts collects the problems after every test (takeSpawnedProblems), so
// a test that spawns a daemon cannot pass while the daemon crashed or broke its JSON-lines log.
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { stopChild, type LoggedProcess } from './peers.ts';
import { waitFor } from './wait-for.ts';

const root = new URL('../../', import.meta.url).pathname;

export interface WatchedProcess extends LoggedProcess {
  /** Every stdout line so far that parsed as JSON. */
  lines(): Record<string, unknown>[];
  /** SIGKILL on purpose (a crash test): the exit is expected. Resolves once it has exited. */
  kill(): Promise<void>;
}

const live = new Set<{ problems: string[] }>();
const running = new Set<WatchedProcess>();

/** Problems seen in watched processes since the last call (and forgets them). */
export function takeSpawnedProblems(): string[] {
  const out: string[] = [];
  for (const p of live) {
    out.push(...p.problems.splice(0));
  }
  return out;
}

/** Kills (SIGKILL, as expected) every watched process still running: a failed test must not leave daemons behind. */
export async function killSpawned(): Promise<void> {
  await Promise.all([...running].map((p) => p.kill()));
}

/** Starts `cmd args` and watches its stdout as pino JSON lines (see the file comment). */
export function spawnWatched(
  cmd: string,
  args: readonly string[],
  o: { cwd?: string; env?: Record<string, string> } = {},
): WatchedProcess {
  const child = spawn(cmd, args, {
    cwd: o.cwd ?? root,
    env: { ...process.env, TCP_NODELAY: '1', ...o.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const state = { problems: [] as string[] };
  live.add(state);
  const name = `${cmd} ${args.join(' ')}`.slice(0, 120);
  const parsed: Record<string, unknown>[] = [];
  let out = '';
  let partial = '';
  let expectExit = false;
  const echo = process.env.XNAT_GATEWAY_TEST_PEER_LOGS === '1';
  child.stdout.on('data', (d: Buffer) => {
    const text = d.toString('utf8');
    out += text;
    if (echo) {
      process.stderr.write(text);
    }
    const parts = (partial + text).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      if (!line.trim()) {
        continue;
      }
      let rec: Record<string, unknown>;
      try {
        rec = JSON.parse(line) as Record<string, unknown>;
      } catch {
        state.problems.push(`${name}: a stdout line is not JSON: ${line.slice(0, 200)}`);
        continue;
      }
      parsed.push(rec);
      if (typeof rec.level === 'number' && rec.level >= 60) {
        state.problems.push(`${name}: logged fatal: ${String(rec.msg)} ${JSON.stringify(rec.err ?? '').slice(0, 300)}`);
      }
    }
  });
  child.stderr.on('data', (d: Buffer) => {
    out += d.toString('utf8');
    if (echo) {
      process.stderr.write(d);
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      state.problems.push(`${name}: could not start: ${err.message}`);
      resolve(null);
    });
    child.once('exit', (code, signal) => {
      if (!expectExit) {
        state.problems.push(`${name}: exited unexpectedly (code ${String(code)}, signal ${String(signal)})`);
      } else if (signal === null && code !== 0) {
        state.problems.push(`${name}: exited with code ${String(code)} when asked to stop`);
      }
      resolve(code);
    });
  });
  void exited.then(() => {
    // Keep reporting until the problems are taken, then forget the process.
    if (state.problems.length === 0) {
      live.delete(state);
    }
  });
  const stop = (signal?: NodeJS.Signals, graceMs?: number): Promise<number | null> => {
    expectExit = true;
    return stopChild(child, exited, signal, graceMs);
  };
  const watched: WatchedProcess = {
    child,
    exited,
    stop,
    output: () => out,
    lines: () => parsed,
    async kill() {
      expectExit = true;
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
      }
      await exited;
    },
  };
  running.add(watched);
  void exited.then(() => running.delete(watched));
  return watched;
}

/**
 * `xnat-gateway run --config <configFile>` from this checkout, watched, with the V8 flags of
 * `npm start` and the container (a 32 MB young generation: memory figures match production).
 */
export function spawnDaemon(
  configFile: string,
  o: { env?: Record<string, string>; v8Flags?: readonly string[] } = {},
): WatchedProcess {
  const flags = ['--max-semi-space-size=32', ...(o.v8Flags ?? [])];
  return spawnWatched(
    process.execPath,
    [...flags, join(root, 'src/cli/main.ts'), 'run', '--config', configFile],
    o.env ? { env: o.env } : {},
  );
}

/** Resolves once the daemon's status server on `httpPort` answers /readyz with 200. */
export async function waitReady(httpPort: number, timeoutMs = 30_000): Promise<void> {
  await waitFor(
    async () =>
      fetch(`http://127.0.0.1:${String(httpPort)}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    'daemon ready',
    timeoutMs,
  );
}

/** spawnDaemon, resolved once the daemon is ready (waitReady). */
export async function spawnReadyDaemon(configFile: string, httpPort: number): Promise<WatchedProcess> {
  const d = spawnDaemon(configFile);
  await waitReady(httpPort);
  return d;
}
