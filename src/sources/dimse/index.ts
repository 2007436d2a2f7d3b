//! The `dimse` source: a C-STORE SCP listening for scanners, consoles and PACS C-MOVEs.
import { createServer, type Server, type Socket } from 'node:net';
import dimse from 'dcmjs-dimse';
import type { ComponentContext, Intake, Source } from '../../pipeline/contracts.ts';
import { ErrorCode } from '../../errors.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION } from '../../dicom/part10.ts';
import type { DimseConfig } from './config.ts';
import { applyDimsePatches } from './patches.ts';
import { createAssociationPolicy } from './policy.ts';
import { GatewayScp } from './scp.ts';

export interface DimseSource extends Source {
  /** The bound port (useful with port 0), or null before start. */
  port(): number | null;
  /** True while the listening socket is open. */
  listening(): boolean;
}

/** Sockets beyond the association limit still get a proper A-ASSOCIATE-RJ; this caps raw floods. */
const CONNECTION_SLACK = 16;

export function create(cfg: DimseConfig, ctx: ComponentContext): DimseSource {
  applyDimsePatches();
  dimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
  dimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION);
  dimse.Implementation.setMaxPduLength(cfg.maxPduBytes);
  const live = new Set<GatewayScp>();
  const sockets = new Set<Socket>();
  let server: Server | null = null;
  let stopping = false;

  return {
    id: 'dimse',
    port() {
      const a = server?.address();
      return a && typeof a === 'object' ? a.port : null;
    },
    listening: () => server?.listening ?? false,

    async start(intake: Intake) {
      const policy = createAssociationPolicy(cfg, () => intake.admission());
      const deps = { cfg, intake, log: ctx.log, events: ctx.events, clock: ctx.clock, policy, live, isStopping: () => stopping };
      server = createServer((socket) => {
        sockets.add(socket);
        socket.once('close', () => sockets.delete(socket));
        try {
          new GatewayScp(socket, deps);
        } catch (err) {
          ctx.log.error({ err }, 'Could not set up a DICOM connection.');
          socket.destroy();
        }
      });
      server.maxConnections = cfg.maxAssociations + CONNECTION_SLACK;
      const srv = server;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: cfg.host, port: cfg.port }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      srv.on('error', (err) => { ctx.log.error({ err }, 'DICOM listener error.'); });
      ctx.log.info({ host: cfg.host, port: this.port(), aeTitle: cfg.aeTitle }, 'DICOM receiver listening.');
    },

    async stop() {
      stopping = true;
      const srv = server;
      if (!srv) {return;}
      const closed = new Promise<void>((resolve) => srv.close(() => { resolve(); }));
      // Let stores already being received finish and be answered; then end the connections.
      await Promise.all([...live].map((scp) => scp.inFlight));
      for (const scp of live) {scp.drop('The gateway is shutting down.', ErrorCode.SHUTTING_DOWN);}
      for (const s of sockets) {s.destroy();}
      await closed;
      server = null;
      ctx.log.info('DICOM receiver stopped.');
    },
  };
}
