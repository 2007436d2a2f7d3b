//! Starts the daemon, and while its disk is full waits for space instead of exiting.
// A restart with the data disk full used to end in SQLITE_FULL or ENOSPC and exit 1; the service
// manager then restarted it in a loop and every sender got "connection refused". Instead the
// process stays up, says why in the log and on /readyz (503, with the reason), tries again every
// few seconds and starts as soon as the disk has room.
import { createServer, type Server } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config/schema.ts';
import { createDaemon, type Daemon, type DaemonOptions } from './daemon.ts';
import { ErrorCode, describeError } from '../errors.ts';
import { isDiskFull } from '../spool/disk-space.ts';

export interface Starter {
  /** Resolves with the running daemon; rejects on a start-up failure other than a full disk, or when stopped first. */
  readonly started: Promise<Daemon>;
  /** Stops waiting (or stops the daemon once it runs). */
  stop(): Promise<void>;
}

/** Answers the probes while waiting: /healthz 200 (the process is fine), everything else 503 with the reason. */
function waitingServer(cfg: Config, reason: () => string): Promise<Server> {
  const srv = createServer((req, res) => {
    const healthy = req.url === '/healthz';
    const body = healthy
      ? { status: 'ok', starting: true }
      : { ready: false, receiverListening: false, dbWritable: false, reasons: [reason()] };
    res.writeHead(healthy ? 200 : 503, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve, reject) => {
    srv.once('error', reject);
    srv.listen({ host: cfg.http.host, port: cfg.http.port }, () => {
      srv.off('error', reject);
      resolve(srv);
    });
  });
}

const close = (srv: Server | null): Promise<void> =>
  new Promise((resolve) => {
    if (!srv) {
      resolve();
      return;
    }
    srv.closeAllConnections();
    srv.close(() => {
      resolve();
    });
  });

export function startWhenSpace(cfg: Config, o: DaemonOptions & { retryMs?: number }): Starter {
  const retryMs = o.retryMs ?? 2000;
  const log = o.log;
  let stopped = false;
  let current: Daemon | null = null;
  let waiting: Server | null = null;
  let why = '';
  const wake = new AbortController();

  async function attempt(): Promise<Daemon | null> {
    let daemon: Daemon | null = null;
    try {
      daemon = createDaemon(cfg, o);
      current = daemon;
      await daemon.start();
      return daemon;
    } catch (err) {
      current = null;
      if (!isDiskFull(err)) {
        throw err;
      }
      await daemon?.stop().catch((e: unknown) => {
        log.debug({ err: e }, 'Cleaning up after a start on a full disk failed.');
      });
      why = `The data disk is full (${describeError(err)}): waiting for free space before starting.`;
      return null;
    }
  }

  async function run(): Promise<Daemon> {
    for (let tries = 0; ; tries++) {
      if (stopped) {
        throw new Error('Stopped before the daemon started.');
      }
      await close(waiting);
      waiting = null;
      const daemon = await attempt();
      if (daemon) {
        if (tries > 0) {
          log.info({ tries }, 'Free space is back: the gateway started.');
        }
        return daemon;
      }
      if (tries === 0) {
        log.error({ code: ErrorCode.SPOOL_FULL, dataDir: cfg.dataDir }, why);
      }
      if (cfg.http.enabled) {
        waiting = await waitingServer(cfg, () => why).catch((err: unknown) => {
          log.warn({ err }, 'Could not answer /readyz while waiting for free space.');
          return null;
        });
      }
      await sleep(retryMs, undefined, { signal: wake.signal }).catch(() => undefined);
    }
  }

  return {
    started: run(),
    async stop() {
      stopped = true;
      wake.abort();
      await close(waiting);
      waiting = null;
      await current?.stop();
    },
  };
}
