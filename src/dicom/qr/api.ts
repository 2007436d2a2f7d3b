//! What the Q/R SCU promises its callers: the peer, its timeouts, and the results of C-FIND, C-MOVE and C-GET.
import type { StoreHandler } from '../association/incoming-store.ts';
import type { Identifier } from './identifier.ts';
import type { QrLevel } from './sop-classes.ts';
import type { QrStatusClass } from './status.ts';

export interface QrPeer {
  readonly host: string;
  readonly port: number;
  /** The PACS's AE title. */
  readonly calledAe: string;
  /** Ours, as the PACS knows it. */
  readonly callingAe: string;
}

export interface QrTimeouts {
  readonly connectTimeoutMs: number;
  /** A-ASSOCIATE-AC, C-ECHO-RSP, each C-FIND response, A-RELEASE-RP. */
  readonly responseTimeoutMs: number;
  /** Longest silence between C-MOVE/C-GET responses (and C-GET sub-operations). */
  readonly retrieveIdleTimeoutMs: number;
  /** After C-CANCEL, how long the PACS has to send its final response before we abort. */
  readonly cancelTimeoutMs: number;
}

export interface QrClientOptions extends QrPeer, QrTimeouts {
  /** Our receive limit (default 64 KiB; C-GET of large instances benefits from more). */
  readonly maxPduLength?: number;
}

/** Progress of a C-MOVE/C-GET: the counts of its latest pending response. */
export interface RetrieveProgress {
  readonly remaining: number | null;
  readonly completed: number | null;
  readonly failed: number | null;
  readonly warning: number | null;
}

export interface RetrieveResult extends RetrieveProgress {
  /** Final status, and its class. */
  readonly status: number;
  readonly statusClass: QrStatusClass;
  readonly errorComment: string | null;
  /** Pending responses seen before the final one. */
  readonly pendingResponses: number;
  /** True when the operation ended because we sent C-CANCEL. */
  readonly cancelled: boolean;
  /** C-GET: sub-operations received on the association, answered Success / refused. */
  readonly stored: number;
  readonly refused: number;
  /** Failed SOP Instance UID List (0008,0058) of the final response, when the PACS sends one. */
  readonly failedSopInstanceUids: readonly string[];
}

export interface FindResult {
  readonly matches: readonly Record<string, string>[];
  /** True when some pending responses said optional keys were not supported (0xFF01). */
  readonly optionalKeysUnsupported: boolean;
}

/** Several C-FINDs on one association (resolution and expected counts of one row). */
export interface FindSession {
  find(level: QrLevel, keys: Identifier): Promise<FindResult>;
}

export interface QrClient {
  readonly peer: QrPeer;
  echo(signal: AbortSignal): Promise<void>;
  find(level: QrLevel, keys: Identifier, signal: AbortSignal): Promise<FindResult>;
  /** Opens one association with the FIND context, runs `fn`, releases it. */
  findSession<T>(signal: AbortSignal, fn: (s: FindSession) => Promise<T>): Promise<T>;
  move(
    level: QrLevel,
    keys: Identifier,
    o: { destinationAe: string; signal: AbortSignal; onProgress?: (p: RetrieveProgress) => void },
  ): Promise<RetrieveResult>;
  get(
    level: QrLevel,
    keys: Identifier,
    o: {
      store: StoreHandler;
      signal: AbortSignal;
      storageClasses?: readonly string[];
      onProgress?: (p: RetrieveProgress) => void;
    },
  ): Promise<RetrieveResult>;
}
