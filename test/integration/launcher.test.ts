// How a service manager, a terminal and an operator start the gateway: the launcher's PID is the
// daemon (SIGTERM to it stops the daemon cleanly, nothing is left behind), and bin/xnat-gateway
// works from any directory, through a symlink, with only Debian's old Node on PATH.
import {
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  symlinkSync,
  writeFileSync,
  mkdirSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { freePort, run, spawnLogged, type LoggedProcess } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = new URL('../../', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'xg-launcher-'));
/** Every daemon started, so a failed assertion does not leave one running. */
const started: LoggedProcess[] = [];
afterEach(async () => {
  for (const p of started.splice(0)) {
    await p.stop('SIGKILL', 1_000);
  }
  // A daemon under npm is npm's child: make sure none of this test's daemons outlives it.
  for (const pid of processesMentioning(scratch)) {
    process.kill(pid, 'SIGKILL');
  }
});
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** PIDs of live processes whose command line mentions `needle` (here: a test's data directory). */
function processesMentioning(needle: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) {
      continue;
    }
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      const env = readFileSync(`/proc/${name}/environ`, 'utf8');
      if (cmd.includes(needle) || env.includes(needle)) {
        pids.push(Number(name));
      }
    } catch {
      // The process ended while we looked.
      continue;
    }
  }
  return pids;
}

async function startVia(
  cmd: string,
  args: string[],
  dataDir: string,
): Promise<{ proc: LoggedProcess; httpPort: number }> {
  const [dimsePort, httpPort] = [await freePort(), await freePort()];
  const proc = spawnLogged(cmd, args, {
    cwd: root,
    env: {
      XNAT_GATEWAY_DATA_DIR: dataDir,
      XNAT_GATEWAY_DIMSE_PORT: String(dimsePort),
      XNAT_GATEWAY_HTTP_PORT: String(httpPort),
    },
  });
  started.push(proc);
  await waitFor(
    async () =>
      fetch(`http://127.0.0.1:${String(httpPort)}/readyz`).then(
        (r) => r.ok,
        () => false,
      ),
    `daemon up (${proc.output()})`,
    60_000,
  );
  return { proc, httpPort };
}

describe('the launcher is the daemon', () => {
  it('./gateway start execs Node: SIGTERM to its PID stops the daemon cleanly and leaves no process', async () => {
    const dataDir = join(scratch, 'start');
    const { proc, httpPort } = await startVia(join(root, 'gateway'), ['start'], dataDir);
    const pid = proc.child.pid ?? 0;
    // The PID the supervisor knows runs the daemon itself (no bash, npm or sh left in between).
    expect(readFileSync(`/proc/${String(pid)}/cmdline`, 'utf8').split('\0')).toEqual(expect.arrayContaining(['run']));
    expect(basename(readlinkSync(`/proc/${String(pid)}/exe`))).toBe('node');
    expect(processesMentioning(dataDir)).toEqual([pid]);
    expect(await proc.stop('SIGTERM', 15_000)).toBe(0);
    expect(proc.output()).toMatch(/xnat-gateway stopped\./);
    expect(processesMentioning(dataDir)).toEqual([]);
    await expect(fetch(`http://127.0.0.1:${String(httpPort)}/healthz`)).rejects.toThrow();
  });

  it('npm start: SIGTERM to npm reaches the daemon (exec, no shell between), which stops cleanly', async () => {
    const dataDir = join(scratch, 'npm-start');
    const { proc, httpPort } = await startVia(join(root, 'gateway'), ['npm', 'start'], dataDir);
    const pid = proc.child.pid ?? 0;
    const children = processesMentioning(dataDir).filter((p) => p !== pid);
    expect(children).toHaveLength(1);
    expect(basename(readlinkSync(`/proc/${String(children[0])}/exe`))).toBe('node');
    expect(readFileSync(`/proc/${String(children[0])}/stat`, 'utf8').split(' ')[3]).toBe(String(pid));
    await proc.stop('SIGTERM', 15_000);
    expect(proc.output()).toMatch(/xnat-gateway stopped\./);
    await waitFor(() => processesMentioning(dataDir).length === 0, 'no process left', 10_000);
    await expect(fetch(`http://127.0.0.1:${String(httpPort)}/healthz`)).rejects.toThrow();
  });
});

describe('bin/xnat-gateway', () => {
  // Debian 12's Node 20 only, as on a hospital server before anything is installed; the launcher
  // must find the Node that ./gateway provisioned (or a system Node >= 22.18).
  const oldNodePath = '/usr/bin:/bin';

  it("runs from any directory and through a symlink on PATH; relative arguments are the caller's", async () => {
    const elsewhere = join(scratch, 'elsewhere');
    mkdirSync(join(elsewhere, 'bin'), { recursive: true });
    writeFileSync(join(elsewhere, 'my.yaml'), `dataDir: ./here-data\n`);
    symlinkSync(join(root, 'bin/xnat-gateway'), join(elsewhere, 'bin', 'xnat-gateway'));
    const direct = await run(join(root, 'bin/xnat-gateway'), ['check-config', '--config', 'my.yaml'], {
      cwd: elsewhere,
      env: { PATH: oldNodePath },
    });
    expect(direct.code, direct.stderr).toBe(0);
    const linked = await run('xnat-gateway', ['--version'], {
      cwd: elsewhere,
      env: { PATH: `${join(elsewhere, 'bin')}:${oldNodePath}` },
    });
    expect(linked.code, linked.stderr).toBe(0);
    expect(linked.stdout).toMatch(/^xnat-gateway \d+\.\d+\.\d+/);
  });

  it("./gateway xnat-gateway runs the command line in the caller's directory", async () => {
    const dir = join(scratch, 'caller');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'c.yaml'), 'dimse: { port: 70000 }\n');
    const r = await run(join(root, 'gateway'), ['xnat-gateway', 'check-config', '--config', 'c.yaml'], {
      cwd: dir,
      env: { PATH: `${oldNodePath}:${process.env.PATH ?? ''}` },
    });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain('dimse.port');
  });
});
