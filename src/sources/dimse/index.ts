//! The `dimse` source: a C-STORE SCP listening for scanners, consoles and PACS C-MOVEs.
// Our own Upper Layer acceptor (ADR 0011): connection.ts runs each connection, messages.ts its
// DIMSE messages; this file owns the listener, the connection limits and shutdown.
import { createServer, type Server, type Socket } from 'node:net';
import type { ComponentContext } from '../../contracts/component.ts';
import type { Intake, Source } from '../../contracts/source.ts';
import { ErrorCode } from '../../errors.ts';
import type { DimseConfig } from './config.ts';
import { openConnection, type Connection } from './connection.ts';
import { createLogThrottle } from './log-throttle.ts';
import { createPeerLimits, peerKey } from './peer-limits.ts';
import { createAssociationPolicy } from './policy.ts';

export interface DimseSource extends Source {
  /** The bound port (useful with port 0), or null before start. */
  port(): number | null;
  /** True while the listening socket is open. */
  listening(): boolean;
}

/** One warning per peer address and kind of problem in this window; the rest go to debug. */
const WARN_WINDOW_MS = 10_000;

export function create(cfg: DimseConfig, ctx: ComponentContext): DimseSource {
  const connections = new Set<Connection>();
  const limits = createPeerLimits(cfg);
  const throttle = createLogThrottle(ctx.clock, WARN_WINDOW_MS);
  let server: Server | null = null;
  let stopping = false;

  /** A connection over a limit is closed before it is read: it has sent nothing to answer yet. */
  function refuse(socket: Socket, peerIp: string, reason: string): void {
    const t = throttle.take(`${peerIp} ${ErrorCode.PEER_CONNECTIONS}`);
    const line = {
      peerIp,
      code: ErrorCode.PEER_CONNECTIONS,
      reason,
      ...(t.suppressed ? { suppressed: t.suppressed } : {}),
    };
    if (t.log) {
      ctx.log.warn(line, 'Connection refused.');
    } else {
      ctx.log.debug(line, 'Connection refused.');
    }
    socket.on('error', () => undefined);
    socket.destroy();
  }

  return {
    type: 'dimse',
    id: 'dimse',
    // Senders are pointed at a listening socket: a closed one makes the gateway not ready.
    ready: () => (server?.listening ? { ready: true } : { ready: false, reason: 'DICOM receiver is not listening.' }),
    describe() {
      return { listening: server?.listening ?? false, aeTitle: cfg.aeTitle, host: cfg.host, port: this.port() };
    },
    port() {
      const a = server?.address();
      return a && typeof a === 'object' ? a.port : null;
    },
    listening: () => server?.listening ?? false,

    async start(intake: Intake) {
      const policy = createAssociationPolicy(cfg, () => intake.admission());
      const deps = {
        cfg,
        intake,
        log: ctx.log,
        events: ctx.events,
        clock: ctx.clock,
        policy,
        limits,
        throttle,
        isStopping: () => stopping,
      };
      server = createServer((socket) => {
        const peerIp = peerKey(socket.remoteAddress ?? 'unknown');
        const refused = stopping ? 'the gateway is shutting down' : limits.admit(peerIp);
        if (refused) {
          refuse(socket, peerIp, refused);
          return;
        }
        try {
          const c = openConnection(socket, peerIp, deps);
          connections.add(c);
          void c.closed.then(() => connections.delete(c));
        } catch (err) {
          ctx.log.error({ err, peerIp }, 'Could not set up a DICOM connection.');
          limits.release(peerIp, false);
          socket.destroy();
        }
      });
      const srv = server;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: cfg.host, port: cfg.port }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      srv.on('error', (err) => {
        ctx.log.error({ err }, 'DICOM listener error.');
      });
      ctx.log.info({ host: cfg.host, port: this.port(), aeTitle: cfg.aeTitle }, 'DICOM receiver listening.');
    },

    async stop() {
      stopping = true;
      const srv = server;
      if (!srv) {
        return;
      }
      const listenerClosed = new Promise<void>((resolve) =>
        srv.close(() => {
          resolve();
        }),
      );
      // Let stores already being received finish and be answered; then end the connections.
      await Promise.all([...connections].map((c) => c.settled()));
      for (const c of connections) {
        c.drop('The gateway is shutting down.', ErrorCode.SHUTTING_DOWN);
      }
      await Promise.all([...connections].map((c) => c.closed));
      await listenerClosed;
      server = null;
      ctx.log.info('DICOM receiver stopped.');
    },
  };
}
