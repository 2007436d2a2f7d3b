//! Connection and association counts, in all and per peer address, so that one address cannot take every slot.
// An attacker who holds all it is allowed from one address (idle connections, trickling senders)
// still leaves room for every other sender: the per-address limits are below the global ones.
import { isIP } from 'node:net';

export interface PeerLimitsConfig {
  /** TCP connections in all (negotiating, associated or closing). */
  readonly maxConnections: number;
  /** Connections from one address that have not finished negotiation. */
  readonly maxPendingPerPeer: number;
}

export interface PeerLimits {
  /** Counts a new connection, or says why it must be closed at once (and does not count it). */
  admit(ip: string): string | null;
  /** The connection's association was accepted: it moves from pending to associated. */
  associated(ip: string): void;
  /** An association counted by `associated` was not opened after all (refused while it was being
   *  accepted, or not recorded): the connection is pending again. */
  notAssociated(ip: string): void;
  /** The connection closed; `associated` says which count it was in. */
  release(ip: string, associated: boolean): void;
  /** Associations open from `ip`. */
  associationsOf(ip: string): number;
  /** Associations open in all. */
  readonly associations: number;
  readonly connections: number;
}

/** The key of a peer: IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) count as their IPv4 address. */
export function peerKey(ip: string): string {
  return ip.startsWith('::ffff:') && isIP(ip.slice(7)) === 4 ? ip.slice(7) : ip;
}

interface Counts {
  pending: number;
  associated: number;
}

export function createPeerLimits(cfg: PeerLimitsConfig): PeerLimits {
  const byPeer = new Map<string, Counts>();
  let connections = 0;
  let associations = 0;
  const counts = (ip: string): Counts => {
    let c = byPeer.get(ip);
    if (!c) {
      c = { pending: 0, associated: 0 };
      byPeer.set(ip, c);
    }
    return c;
  };
  return {
    admit(ip) {
      if (connections >= cfg.maxConnections) {
        return `${String(cfg.maxConnections)} connections are open (dimse.maxConnections)`;
      }
      const c = counts(ip);
      if (c.pending >= cfg.maxPendingPerPeer) {
        return `${String(c.pending)} connections from this address have not finished association negotiation (dimse.maxPendingPerPeer)`;
      }
      c.pending++;
      connections++;
      return null;
    },
    associated(ip) {
      const c = counts(ip);
      c.pending--;
      c.associated++;
      associations++;
    },
    notAssociated(ip) {
      const c = counts(ip);
      c.associated--;
      c.pending++;
      associations--;
    },
    release(ip, wasAssociated) {
      const c = counts(ip);
      if (wasAssociated) {
        c.associated--;
        associations--;
      } else {
        c.pending--;
      }
      connections--;
      if (c.pending === 0 && c.associated === 0) {
        byPeer.delete(ip);
      }
    },
    associationsOf: (ip) => byPeer.get(ip)?.associated ?? 0,
    get associations() {
      return associations;
    },
    get connections() {
      return connections;
    },
  };
}
