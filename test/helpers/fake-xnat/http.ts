//! The fake XNAT's HTTP side: faults first, then authentication, CSRF and routing; every request logged.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { csrfProblem, type Identity } from './auth.ts';
import { faultResponse, type FaultQueue } from './faults.ts';
import { importService } from './import.ts';
import { type Call, type Ctx, type Reply, json, notFound, text } from './reply.ts';
import { archiveRoutes } from './routes-archive.ts';
import { prearchiveRoutes } from './routes-prearchive.ts';
import { scanUploadRoutes } from './routes-scan-upload.ts';
import type { LoggedRequest } from './types.ts';
import { drain, type Meter } from './upload.ts';

const UNAUTHORIZED: Reply = {
  status: 401,
  body: '<html><body><h3>Login attempt failed. Please try again.</h3></body></html>',
  contentType: 'text/html;charset=UTF-8',
  headers: { 'WWW-Authenticate': 'Basic realm="XNAT"' },
};

const sessionCookie = (id: string): string => `JSESSIONID=${id}; Path=/; HttpOnly`;

/** /data/JSESSION: POST or GET opens (or returns) the web session, DELETE logs out. */
function jsession(ctx: Ctx, call: Call): Reply {
  const { who } = call;
  if (call.method === 'DELETE') {
    if (who.sessionId !== undefined) {
      ctx.auth.closeSession(who.sessionId);
    }
    return text(200, '');
  }
  if (call.method !== 'GET' && call.method !== 'POST') {
    return text(405, 'Method Not Allowed');
  }
  const id = who.sessionId ?? ctx.auth.openSession(who.user);
  return { ...text(200, id), headers: { 'Set-Cookie': sessionCookie(id) } };
}

/** /data/services/tokens/{issue[/user/U] | validate/A/S | invalidate/A/S}. */
function tokens(ctx: Ctx, call: Call): Reply | null {
  const m = /^\/data\/services\/tokens\/(issue|validate|invalidate)(?:\/([^/]+)\/([^/]+))?$/.exec(call.path);
  if (!m) {
    return null;
  }
  const [, op, a, b] = m;
  if (op === 'issue') {
    const user = a === 'user' && b !== undefined ? b : call.who.user;
    if (user !== call.who.user && call.who.user !== 'admin') {
      return text(403, 'Forbidden');
    }
    if (!ctx.auth.users.has(user)) {
      return notFound();
    }
    const t = ctx.auth.issueToken(user);
    return json({
      alias: t.alias,
      secret: t.secret,
      xdatUserId: user,
      singleUse: false,
      enabled: true,
      estimatedExpirationTime: t.expiresAt,
    });
  }
  if (a === undefined || b === undefined) {
    return notFound();
  }
  if (op === 'validate') {
    const user = ctx.auth.validateToken(a, b);
    return user === null ? notFound() : json({ valid: user });
  }
  return ctx.auth.invalidateToken(a, b) ? text(200, '') : notFound();
}

/** XNAT pages carry the CSRF token for browser sessions; this is the one page the fake serves. */
function indexPage(ctx: Ctx, who: Identity): Reply {
  const token = who.sessionId === undefined ? '' : (ctx.auth.csrfToken(who.sessionId) ?? '');
  return text(
    200,
    `<html><head><script>var csrfToken = '${token}';</script></head><body>XNAT</body></html>`,
    'text/html',
  );
}

async function route(ctx: Ctx, call: Call, req: IncomingMessage): Promise<Reply> {
  if (call.path === '/data/JSESSION') {
    return jsession(ctx, call);
  }
  const csrf = csrfProblem(
    req,
    call.who,
    call.query,
    call.who.sessionId === undefined ? null : ctx.auth.csrfToken(call.who.sessionId),
  );
  if (csrf !== null) {
    return text(403, csrf);
  }
  if (call.path === '' || call.path === '/app/template/Index.vm') {
    return indexPage(ctx, call.who);
  }
  if (call.path === '/data/services/import') {
    return importService(ctx, call, req);
  }
  return (
    tokens(ctx, call) ??
    (await scanUploadRoutes(ctx, call, req)) ??
    archiveRoutes(ctx, call) ??
    (await prearchiveRoutes(ctx, call)) ??
    notFound()
  );
}

function send(res: ServerResponse, r: Reply, extra: Record<string, string | string[]> = {}): void {
  if (res.headersSent || res.destroyed) {
    return;
  }
  const headers = {
    ...extra,
    ...r.headers,
    'Content-Type': r.contentType ?? 'text/plain;charset=UTF-8',
    'Content-Length': String(Buffer.byteLength(r.body)),
  };
  res.writeHead(r.status, headers);
  res.end(r.body);
}

export interface HttpSide {
  readonly url: string;
  readonly requests: LoggedRequest[];
  close(): Promise<void>;
}

/** Starts the HTTP server on 127.0.0.1, port 0. */
export async function startHttp(ctx: Ctx, faults: FaultQueue): Promise<HttpSide> {
  const requests: LoggedRequest[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const method = req.method ?? 'GET';
    const query = Object.fromEntries(url.searchParams);
    const contentType = req.headers['content-type'] ?? null;
    const meter: Meter = { bytes: 0 };
    const entry = {
      method,
      path: url.pathname,
      query,
      contentType,
      at: ctx.now(),
      user: null as string | null,
      auth: null as LoggedRequest['auth'],
    };
    const log = (status: number, error?: string): void => {
      requests.push({ ...entry, status, bytes: meter.bytes, ...(error === undefined ? {} : { error }) });
    };
    const fault = faults.takeHttp(method, url.pathname);
    if (fault?.delayMs !== undefined) {
      await sleep(fault.delayMs);
    }
    if (fault?.drop !== undefined) {
      if (fault.drop === 'after-body') {
        await drain(req, meter);
      }
      req.socket.destroy();
      log(0, `fault: dropped ${fault.drop}`);
      return;
    }
    if (fault?.status !== undefined) {
      await drain(req, meter);
      send(res, { status: fault.status, ...faultResponse({ ...fault, status: fault.status }) });
      log(fault.status, `fault: status ${String(fault.status)}`);
      return;
    }
    const who = ctx.auth.identify(req);
    if (!who) {
      await drain(req, meter);
      send(res, UNAUTHORIZED);
      log(401, 'Unauthorized');
      return;
    }
    entry.user = who.user;
    entry.auth = who.auth;
    const path = url.pathname.replace(/^\/REST(?=\/|$)/, '/data').replace(/\/+$/, '');
    let reply: Reply;
    try {
      reply = await route(ctx, { method, path, query, who, contentType, meter }, req);
    } catch (err) {
      reply = text(500, err instanceof Error ? err.message : String(err));
    }
    await drain(req, meter);
    // Like Tomcat, a Basic-authenticated request gets a web session of its own.
    const cookie =
      who.auth === 'session' || path === '/data/JSESSION'
        ? {}
        : { 'Set-Cookie': sessionCookie(ctx.auth.openSession(who.user)) };
    send(res, reply, cookie);
    log(reply.status, reply.status >= 400 ? reply.body.slice(0, 500) : undefined);
  };
  const server: Server = createServer({ keepAlive: true }, (req, res) => {
    handle(req, res).catch((err: unknown) => {
      send(res, text(500, String(err)));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${String(port)}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => {
          resolve();
        });
        server.closeAllConnections();
      }),
  };
}
