//! The `stow` source: DICOMweb STOW-RS (PS3.18 §10.5) on a listener of its own, for PACS, VNAs and AI tools that push over HTTP.
// node:http rather than Fastify: the body is a stream read part by part under back-pressure, and
// an `Expect: 100-continue` upload is refused (401, 413, 415, 503) before a byte of it is sent.
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerOptions,
  type ServerResponse,
} from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import { ErrorCode } from '../../errors.ts';
import type { ComponentContext } from '../../contracts/component.ts';
import type { Intake, Source } from '../../contracts/source.ts';
import type { StowConfig } from './config.ts';
import { peerOf } from './precheck.ts';
import { sendRefusal } from './refusal.ts';
import { handleRequest } from './request.ts';
import { createLockout } from './lockout.ts';
import { createTokenStore, type TokenStore } from './tokens.ts';
import { StowErrorCode } from './errors.ts';

/** How long stop() lets a request still uploading finish its current part. */
const STOP_GRACE_MS = 10_000;

export interface StowSource extends Source {
  /** The bound port (useful with port 0), or null before start. */
  port(): number | null;
}

/** Built by the registry only when `stow.port` is set; the config check requires `stow.tokenFile` with it. */
export function create(cfg: StowConfig, ctx: ComponentContext): StowSource {
  const { port: listenPort, tokenFile } = cfg;
  if (listenPort === null || tokenFile === null) {
    throw new Error('The STOW-RS source is built only with stow.port and stow.tokenFile set.');
  }
  let server: Server | null = null;
  let stopping = false;
  const inFlight = new Set<Promise<void>>();
  const sockets = new Set<Socket>();
  let tokens: TokenStore | null = null;
  const lockout = createLockout(ctx.clock);

  const port = (): number | null => {
    const a = server?.address();
    return a && typeof a === 'object' ? a.port : null;
  };

  function serve(intake: Intake, req: IncomingMessage, res: ServerResponse, expectContinue: boolean): void {
    const t = tokens;
    if (!t || stopping || inFlight.size >= cfg.maxConcurrentRequests) {
      const message =
        stopping || !t
          ? 'The gateway is shutting down.'
          : `${String(cfg.maxConcurrentRequests)} store requests are already in progress (stow.maxConcurrentRequests).`;
      ctx.log.warn(
        {
          peerIp: peerOf(req),
          code: stopping || !t ? ErrorCode.SHUTTING_DOWN : ErrorCode.ASSOC_LIMIT,
          reason: message,
        },
        'STOW-RS request refused.',
      );
      sendRefusal(res, {
        status: 503,
        code: stopping || !t ? ErrorCode.SHUTTING_DOWN : ErrorCode.ASSOC_LIMIT,
        message,
        headers: { 'Retry-After': '30' },
      });
      return;
    }
    const done = handleRequest(
      req,
      res,
      {
        ...ctx,
        intake,
        tokens: t,
        lockout,
        maxRequestBytes: cfg.maxRequestBytes,
        idleTimeoutMs: cfg.idleTimeoutMs,
        stopping: () => stopping,
      },
      expectContinue,
    )
      .catch((err: unknown) => {
        ctx.log.error({ err }, 'A STOW-RS request failed unexpectedly.');
        if (!res.headersSent) {
          sendRefusal(res, {
            status: 500,
            code: StowErrorCode.STOW_REQUEST_INVALID,
            message: 'Internal error; nothing of the part in progress was kept.',
          });
        } else {
          res.destroy();
        }
      })
      .finally(() => {
        inFlight.delete(done);
      });
    inFlight.add(done);
  }

  return {
    type: 'stow',
    id: 'stow',
    port,
    // Senders are pointed at a listening socket: a closed one makes the gateway not ready.
    ready: () => (server?.listening ? { ready: true } : { ready: false, reason: 'STOW-RS receiver is not listening.' }),
    describe: () => ({
      listening: server?.listening ?? false,
      host: cfg.host,
      port: port(),
      tls: cfg.tlsCertFile !== null,
      requestsInFlight: inFlight.size,
    }),

    async start(intake: Intake) {
      // Loaded again here (config load checked it already): a file changed since is caught before listening.
      tokens = createTokenStore(tokenFile, (err) => {
        ctx.log.error(
          { code: StowErrorCode.STOW_TOKENS, err: err.message },
          'The STOW-RS token file cannot be used; requests get 503 until it is fixed.',
        );
      });
      const listener: RequestListener = (req, res) => {
        serve(intake, req, res, false);
      };
      // No overall request timeout (a study may take an hour to upload); the socket's idle timeout applies.
      const options: ServerOptions = { requestTimeout: 0, headersTimeout: 30_000 };
      const srv: Server =
        cfg.tlsCertFile !== null && cfg.tlsKeyFile !== null
          ? createTlsServer(
              { ...options, cert: readFileSync(cfg.tlsCertFile), key: readFileSync(cfg.tlsKeyFile) },
              listener,
            )
          : createServer(options, listener);
      srv.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
        serve(intake, req, res, true);
      });
      srv.on('connection', (s: Socket) => {
        sockets.add(s);
        // A body that sends nothing for this long is cut off; its part in progress is discarded.
        s.setTimeout(cfg.idleTimeoutMs, () => {
          s.destroy();
        });
        s.once('close', () => sockets.delete(s));
      });
      srv.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
        ctx.log.debug({ err: err.message, code: err.code }, 'A STOW-RS client sent a malformed request.');
        if (socket.writable) {
          socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
        } else {
          socket.destroy();
        }
      });
      server = srv;
      await new Promise<void>((resolve, reject) => {
        srv.once('error', reject);
        srv.listen({ host: cfg.host, port: listenPort }, () => {
          srv.off('error', reject);
          resolve();
        });
      });
      srv.on('error', (err) => {
        ctx.log.error({ err }, 'STOW-RS listener error.');
      });
      ctx.log.info({ host: cfg.host, port: port(), tls: cfg.tlsCertFile !== null }, 'STOW-RS receiver listening.');
    },

    async stop() {
      stopping = true;
      const srv = server;
      if (!srv) {
        return;
      }
      const closed = new Promise<void>((resolve) =>
        srv.close(() => {
          resolve();
        }),
      );
      srv.closeIdleConnections();
      // Requests in progress finish the part they are storing and are answered 503 (request.ts); an
      // upload still streaming after the grace period is cut off (its stored parts are kept, a
      // resend is recognised as duplicates).
      const grace = new Promise<void>((resolve) => {
        setTimeout(resolve, STOP_GRACE_MS).unref();
      });
      await Promise.race([Promise.all([...inFlight]), grace]);
      for (const s of sockets) {
        s.destroy();
      }
      await Promise.all([...inFlight]);
      await closed;
      server = null;
      ctx.log.info('STOW-RS receiver stopped.');
    },
  };
}
