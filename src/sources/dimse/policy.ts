//! Association admission: called/calling AE titles, peer addresses, limits and back-pressure.
import { BlockList, isIP } from 'node:net';
import { ErrorCode } from '../../errors.ts';
import type { Admission } from '../../contracts/component.ts';
import type { DimseConfig } from './config.ts';
import { peerKey } from './peer-limits.ts';

/** A-ASSOCIATE-RJ fields (PS3.8 §9.3.4): result 1 permanent / 2 transient; source; reason. */
export interface Rejection {
  readonly result: 1 | 2;
  readonly source: 1 | 2 | 3;
  readonly reason: number;
  readonly code: ErrorCode;
  readonly message: string;
}

export interface AssociationRequest {
  readonly calledAe: string;
  readonly callingAe: string;
  readonly peerIp: string;
  /** Associations open now, not counting this one. */
  readonly openAssociations: number;
  /** Associations open now from this peer's address, not counting this one. */
  readonly peerAssociations: number;
}

function buildBlockList(peers: readonly string[]): BlockList {
  const list = new BlockList();
  for (const p of peers) {
    const [addr = '', bits] = p.split('/');
    const type = isIP(addr) === 6 ? 'ipv6' : 'ipv4';
    if (bits === undefined) {
      list.addAddress(addr, type);
    } else {
      list.addSubnet(addr, Number(bits), type);
    }
  }
  return list;
}

export function createAssociationPolicy(
  cfg: DimseConfig,
  admission: () => Promise<Admission>,
): (rq: AssociationRequest) => Promise<Rejection | null> {
  const peers = cfg.allowedPeers.length ? buildBlockList(cfg.allowedPeers) : null;
  const callers = cfg.allowedCallingAeTitles.length ? new Set(cfg.allowedCallingAeTitles.map((a) => a.trim())) : null;
  return async (rq) => {
    if (!cfg.acceptAnyCalledAe && rq.calledAe !== cfg.aeTitle.trim()) {
      return {
        result: 1,
        source: 1,
        reason: 7,
        code: ErrorCode.ASSOC_CALLED_AE,
        message: `Called AE title "${rq.calledAe}" is not ours.`,
      };
    }
    if (callers && !callers.has(rq.callingAe)) {
      return {
        result: 1,
        source: 1,
        reason: 3,
        code: ErrorCode.ASSOC_CALLING_AE,
        message: `Calling AE title "${rq.callingAe}" is not allowed.`,
      };
    }
    if (peers) {
      const ip = peerKey(rq.peerIp);
      if (!peers.check(ip, isIP(ip) === 6 ? 'ipv6' : 'ipv4')) {
        return {
          result: 1,
          source: 1,
          reason: 3,
          code: ErrorCode.ASSOC_PEER_IP,
          message: `Peer address ${ip} is not allowed.`,
        };
      }
    }
    if (rq.peerAssociations >= cfg.maxAssociationsPerPeer) {
      return {
        result: 2,
        source: 3,
        reason: 2,
        code: ErrorCode.ASSOC_PEER_LIMIT,
        message: `${String(rq.peerAssociations)} associations from this address already open (dimse.maxAssociationsPerPeer).`,
      };
    }
    if (rq.openAssociations >= cfg.maxAssociations) {
      return {
        result: 2,
        source: 3,
        reason: 2,
        code: ErrorCode.ASSOC_LIMIT,
        message: `${String(cfg.maxAssociations)} associations already open.`,
      };
    }
    const a = await admission();
    if (!a.ok) {
      return { result: 2, source: 3, reason: 2, code: ErrorCode.ASSOC_BACKPRESSURE, message: a.message };
    }
    return null;
  };
}
