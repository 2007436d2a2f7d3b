//! A TCP proxy in front of a peer that counts the connections the peer sees: how many at once, at most.
import { connect, createServer, type Socket } from 'node:net';

export interface CountingProxy {
  readonly port: number;
  /** Connections open now, the most ever open at once, and the total. */
  readonly open: () => number;
  readonly maxOpen: () => number;
  readonly total: () => number;
  close(): Promise<void>;
}

export async function startCountingProxy(targetPort: number, host = '127.0.0.1'): Promise<CountingProxy> {
  let open = 0;
  let maxOpen = 0;
  let total = 0;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    open++;
    total++;
    maxOpen = Math.max(maxOpen, open);
    const upstream = connect({ host, port: targetPort });
    sockets.add(client).add(upstream);
    let closed = false;
    const close = (): void => {
      if (closed) {
        return;
      }
      closed = true;
      uncount();
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    // The PACS-side count drops as soon as the client ends its side (its FIN): the association is over.
    let counted = true;
    const uncount = (): void => {
      if (counted) {
        counted = false;
        open--;
      }
    };
    client.on('end', uncount);
    client.pipe(upstream).pipe(client);
    for (const s of [client, upstream]) {
      s.on('error', close);
      s.on('close', close);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const addr = server.address();
  return {
    port: typeof addr === 'object' && addr ? addr.port : 0,
    open: () => open,
    maxOpen: () => maxOpen,
    total: () => total,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) {
          s.destroy();
        }
        server.close(() => {
          resolve();
        });
      }),
  };
}
