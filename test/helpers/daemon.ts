//! Starts an in-process daemon on ephemeral ports with a throw-away data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { buildConfig } from '../../src/config/load.ts';
import { createDaemon, type Daemon } from '../../src/app/daemon.ts';
import { createLogger } from '../../src/log.ts';

export interface TestDaemon {
  readonly daemon: Daemon;
  readonly dataDir: string;
  readonly dimsePort: number;
  readonly httpPort: number;
  /** Every log line so far, parsed. */
  logs(): Record<string, unknown>[];
  stop(): Promise<void>;
}

/** Deep-merges `overrides` into a config with ports 0, a fast quiet period and a tmp data dir. */
export async function startTestDaemon(
  overrides: Record<string, unknown> = {},
  o: { freeBytes?: (dir: string) => number } = {},
): Promise<TestDaemon> {
  const dataDir = mkdtempSync(join(tmpdir(), 'xg-daemon-'));
  const base: Record<string, unknown> = {
    dataDir,
    dimse: { port: 0, host: '127.0.0.1' },
    http: { port: 0 },
    series: { quietPeriodMs: 500, checkIntervalMs: 100 },
    workers: { pollIntervalMs: 100, backoffBaseMs: 100, backoffMaxMs: 1000 },
    spool: { minFreeBytes: 0 },
    log: { level: 'debug' },
  };
  for (const [k, v] of Object.entries(overrides)) {
    base[k] = v && typeof v === 'object' && !Array.isArray(v) ? { ...(base[k] as object), ...v } : v;
  }
  const cfg = buildConfig(base, {}, process.cwd());
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _e, done) {
      for (const l of chunk.toString('utf8').split('\n')) {
        if (l.trim()) {
          lines.push(JSON.parse(l) as Record<string, unknown>);
        }
      }
      done();
    },
  });
  const log = createLogger(cfg.log.level, sink);
  const daemon = createDaemon(cfg, { log, ...(o.freeBytes ? { freeBytes: o.freeBytes } : {}) });
  await daemon.start();
  const ports = daemon.ports();
  let stopped = false;
  return {
    daemon,
    dataDir,
    dimsePort: ports.dimse ?? 0,
    httpPort: ports.http ?? 0,
    logs: () => lines,
    async stop() {
      if (stopped) {
        return;
      }
      stopped = true;
      await daemon.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
