//! What the Q/R role hands an instance it receives to: C-GET's C-STORE sub-operations, streamed to the caller's store and answered once durable.
// The shape of the Intake's IncomingInstance, so a pull can hand C-GET sub-operations to the spool
// like any source (src/sources/pull/get-store.ts).

/** What the C-GET requestor is told about an instance arriving on its association. */
export interface StoreMeta {
  readonly sopClassUid: string;
  readonly sopInstanceUid: string;
  readonly transferSyntaxUid: string;
  /** The PACS (the C-STORE requestor) and us, as on the association. */
  readonly callingAe: string;
  readonly calledAe: string;
  readonly peerIp: string;
}

/** How a received instance ended: the C-STORE-RSP status follows from it. */
export type StoreOutcome =
  | { readonly ok: true }
  /** `status`: the C-STORE-RSP status to answer (default 0xA700 when retryable, 0xC000 otherwise). */
  | { readonly ok: false; readonly retryable: boolean; readonly message: string; readonly status?: number };

/**
 * One instance being received: dataset bytes in, then `finish()` makes them durable; the PACS is
 * answered Success only when it resolves ok.
 */
export interface IncomingStore {
  /** Appends dataset bytes; false asks the caller to wait for `drained()`. */
  write(chunk: Buffer): boolean;
  drained(): Promise<void>;
  finish(): Promise<StoreOutcome>;
  /** Discards what was written (association ended mid-instance). Idempotent. */
  abort(): Promise<void>;
}

export type StoreHandler = (meta: StoreMeta) => IncomingStore;
