//! The daemon's status server: built from the daemon's parts when its service starts, listening where the config says.
// Built at start rather than with the other parts so a daemon with http.enabled false never
// constructs it; `port()` reads the bound port, which matters when the config asks for port 0.
import type { FastifyInstance } from 'fastify';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import { isLoopback } from '../status/access.ts';
import { buildStatusServer } from '../status/server.ts';
import { composeStatusDeps, type StatusParts } from './status-deps.ts';

export interface StatusServer {
  /** Builds the server and listens; nothing when http.enabled is false. */
  listen(): Promise<void>;
  close(): Promise<void> | undefined;
  /** The bound port; null before listening (or when disabled). */
  port(): number | null;
}

export function createStatusServer(parts: StatusParts): StatusServer {
  const { cfg, log } = parts;
  let http: FastifyInstance | null = null;
  const port = (): number | null => {
    const a = http?.server.address();
    return a && typeof a === 'object' ? a.port : null;
  };
  return {
    async listen() {
      if (!cfg.http.enabled) {
        return;
      }
      http = buildStatusServer(composeStatusDeps(parts));
      await http.listen({ host: cfg.http.host, port: cfg.http.port });
      log.info({ host: cfg.http.host, port: port() }, 'Status server listening.');
      warnIfOpen(cfg, log);
    },
    close: () => http?.close(),
    port,
  };
}

/** Reading beyond loopback without sign-in is allowed (http.auth: actions) but never silent. */
function warnIfOpen(cfg: Config, log: Logger): void {
  if (!isLoopback(cfg.http.host) && cfg.http.host !== 'localhost' && cfg.http.auth === 'actions') {
    log.warn(
      { host: cfg.http.host },
      'The status server and console are reachable beyond this machine and reading needs no sign-in; set http.auth: all to require it.',
    );
  }
}
