//! Peer programs (DCMTK, Orthanc, dicom3tools) for integration tests: lookup, ports, and child processes.
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer, connect } from 'node:net';
import { delimiter, join } from 'node:path';
import { describe, it } from 'vitest';

/** True when running under CI (`CI=true`): a missing peer then fails instead of skipping. */
export const isCi = process.env.CI === 'true';

// Debian installs Orthanc in /usr/sbin, which a non-root PATH often lacks.
const EXTRA_DIRS = ['/usr/local/sbin', '/usr/sbin', '/sbin'];
const found = new Map<string, string | undefined>();

/** Absolute path of `bin` on PATH (plus the sbin directories), or undefined. Cached. */
export function which(bin: string): string | undefined {
  if (found.has(bin)) {
    return found.get(bin);
  }
  const dirs = [...(process.env.PATH ?? '').split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  let hit: string | undefined;
  for (const dir of dirs) {
    try {
      accessSync(join(dir, bin), constants.X_OK);
      hit = join(dir, bin);
      break;
    } catch {
      // Not in this directory; try the next one.
      continue;
    }
  }
  found.set(bin, hit);
  return hit;
}

/** The peers in `bins` that are not installed. */
export function missingPeers(bins: readonly string[]): string[] {
  return bins.filter((b) => which(b) === undefined);
}

function missingMessage(missing: readonly string[]): string {
  return `Missing peer program(s): ${missing.join(', ')} (apt-get install dcmtk orthanc dicom3tools python3-pydicom).`;
}

/**
 * Whether `bin` is available. When it is missing under `CI=true` this throws, so the test file
 * fails instead of silently skipping (STYLE §3.8: a green run must not hide skipped peers).
 */
export function requirePeer(bin: string): boolean {
  const ok = which(bin) !== undefined;
  if (!ok && isCi) {
    throw new Error(missingMessage([bin]));
  }
  return ok;
}

/**
 * `describe` that needs peer programs: skipped locally when one is missing; under `CI=true` it
 * registers one failing test naming the missing peers instead of running `fn`. `otherMissing`
 * names peers that are not programs (e.g. python3-pydicom's test files), already found missing.
 */
export function describeWithPeers(
  bins: readonly string[],
  name: string,
  fn: () => void,
  otherMissing: readonly string[] = [],
): void {
  const missing = [...missingPeers(bins), ...otherMissing];
  if (missing.length > 0 && isCi) {
    describe(name, () => {
      it(`has its peer programs (${bins.join(', ')})`, () => {
        throw new Error(missingMessage(missing));
      });
    });
    return;
  }
  describe.skipIf(missing.length > 0)(name, fn);
}

/** A TCP port that was free a moment ago on `host` (default 127.0.0.1), for peers that cannot take port 0. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr !== null ? addr.port : 0;
      srv.close(() => {
        resolve(port);
      });
    });
  });
}

function tryConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ port, host });
    sock.once('connect', () => {
      sock.destroy();
      resolve(true);
    });
    sock.once('error', () => {
      sock.destroy();
      resolve(false);
    });
  });
}

/** Resolves once a TCP connection to `host:port` succeeds; rejects after `timeoutMs` (default 10 000). */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await tryConnect(port, host)) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`Nothing listened on ${host}:${String(port)} within ${String(timeoutMs)} ms.`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Options for `run` and `spawnLogged`. */
export interface RunOptions {
  /** Kill the process (SIGKILL) after this long. Default 60 000 ms. */
  readonly timeoutMs?: number;
  /** Added to process.env (and to the default `TCP_NODELAY=1`). */
  readonly env?: Readonly<Record<string, string>>;
  readonly cwd?: string;
}

/** Outcome of `run`. `code` is null when the process died from a signal (including the timeout). */
export interface RunResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

/**
 * DCMTK reads the `TCP_NODELAY` environment variable to decide whether to disable Nagle's
 * algorithm; setting it avoids 40 ms delayed-ACK stalls on small PDUs. Harmless for other programs.
 */
function childEnv(extra: Readonly<Record<string, string>> | undefined): NodeJS.ProcessEnv {
  return { ...process.env, TCP_NODELAY: '1', ...extra };
}

/** Runs `cmd args` to completion, capturing stdout and stderr; never rejects on a non-zero exit. */
export function run(cmd: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs ?? 60_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** A long-running child whose output is kept for assertions and failure messages. */
export interface LoggedProcess {
  readonly child: ChildProcess;
  /** Interleaved stdout and stderr so far. */
  readonly output: () => string;
  /** Resolves with the exit code (null if killed by a signal) once the process has exited. */
  readonly exited: Promise<number | null>;
  /** Sends `signal` (default SIGTERM), waits up to `graceMs` (default 10 000), then SIGKILLs. */
  readonly stop: (signal?: NodeJS.Signals, graceMs?: number) => Promise<number | null>;
}

/**
 * Starts `cmd args` in the background, collecting its output; `opts.timeoutMs` (if given) kills it.
 * Set `XNAT_GATEWAY_TEST_PEER_LOGS=1` to echo its output to the test's stderr as it arrives.
 */
export function spawnLogged(cmd: string, args: readonly string[], opts: RunOptions = {}): LoggedProcess {
  const child = spawn(cmd, args, { env: childEnv(opts.env), cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  const echo = process.env.XNAT_GATEWAY_TEST_PEER_LOGS === '1';
  let out = '';
  const collect = (d: Buffer): void => {
    out += d.toString('utf8');
    if (echo) {
      process.stderr.write(`[${cmd}] ${d.toString('utf8')}`);
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const timer = opts.timeoutMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
  const exited = new Promise<number | null>((resolve) => {
    child.once('error', (err) => {
      out += `\nspawn error: ${err.message}\n`;
      resolve(null);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code);
    });
  });
  return { child, output: () => out, exited, stop: (signal, graceMs) => stopChild(child, exited, signal, graceMs) };
}

/** Sends `signal` (default SIGTERM) to `child`, waits up to `graceMs` (default 10 000), then SIGKILLs; resolves with `exited`. */
export async function stopChild(
  child: ChildProcess,
  exited: Promise<number | null>,
  signal: NodeJS.Signals = 'SIGTERM',
  graceMs = 10_000,
): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return exited;
  }
  child.kill(signal);
  const killer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  try {
    return await exited;
  } finally {
    clearTimeout(killer);
  }
}
