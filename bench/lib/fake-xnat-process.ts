//! The fake XNAT (test/helpers/fake-xnat) in a process of its own, for benches: its unzipping and parsing must not count towards the gateway's time or memory.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export interface FakeXnatProcess {
  readonly url: string;
  readonly child: ChildProcess;
  /** YAML of an xnat-rest sink delivering to it as user `gw` (password file written under `dir`). */
  sinkYaml(dir: string): string;
  stop(): Promise<void>;
}

/** Starts bench/fake-xnat-server.ts and waits for the URL it prints. */
export async function startFakeXnatProcess(): Promise<FakeXnatProcess> {
  const child = spawn(process.execPath, [new URL('../fake-xnat-server.ts', import.meta.url).pathname], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((r) =>
    child.once('exit', () => {
      r();
    }),
  );
  const first = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => {
      reject(new Error(`The fake XNAT exited (code ${String(code)}) before it listened.`));
    });
    createInterface({ input: child.stdout }).once('line', resolve);
  });
  const { url } = JSON.parse(first) as { url: string };
  return {
    url,
    child,
    sinkYaml(dir) {
      const secret = join(dir, 'xnat-password');
      writeFileSync(secret, 'gw');
      chmodSync(secret, 0o600);
      return `sinks:\n  - { type: xnat-rest, url: '${url}', user: gw, passwordFile: '${secret}' }`;
    },
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
      }
      await exited;
    },
  };
}
