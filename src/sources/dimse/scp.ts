//! Our dcmjs-dimse Scp subclass: one per TCP connection; streams C-STORE data into the intake.
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import type { association as assoc, requests as rq, responses as rs } from 'dcmjs-dimse';
import type { Intake, IncomingInstance, IngestResult, Logger, DaemonEvents, Clock } from '../../pipeline/contracts.ts';
import { ErrorCode, describeError } from '../../errors.ts';
import type { DimseConfig } from './config.ts';
import { negotiateContexts } from './negotiate.ts';
import { createPduGuard } from './pdu-guard.ts';
import type { AssociationRequest, Rejection } from './policy.ts';
import { storeStatusFor } from './status.ts';
import { encodeStoreResponse } from './store-response.ts';

const { Scp, Dataset } = dimse;
const { CEchoResponse } = dimse.responses;
const { Status } = dimse.constants;
type Association = InstanceType<typeof assoc.Association>;
type PresentationContext = InstanceType<typeof assoc.PresentationContext>;

/** What every connection shares: config, the intake, and the registry of live connections. */
export interface ScpDeps {
  readonly cfg: DimseConfig;
  readonly intake: Intake;
  readonly log: Logger;
  readonly events: DaemonEvents;
  readonly clock: Clock;
  readonly policy: (rq: AssociationRequest) => Rejection | null;
  /** Live associations (accepted, not yet closed), for the limit and for shutdown. */
  readonly live: Set<GatewayScp>;
  readonly isStopping: () => boolean;
}

export class GatewayScp extends Scp {
  readonly peerIp: string;
  private readonly deps: ScpDeps;
  private readonly sock: Socket;
  private accepted = false;
  private associationUid: string | null = null;
  private callingAe = '';
  private calledAe = '';
  private openedAt: number;
  private instances = 0;
  private bytes = 0;
  private outcome: 'released' | 'aborted' | 'dropped' = 'dropped';
  private current: IncomingInstance | null = null;
  private lastResult: IngestResult | null = null;
  private lastContextId = 0;
  /** The library's own `association` property (it assigns it when the A-ASSOCIATE-RQ arrives), typed. */
  private association: Association | null = null;
  private releaseInFlight: () => void = () => undefined;
  /** Settles when the in-flight C-STORE (if any) has been answered or discarded. */
  inFlight: Promise<void> = Promise.resolve();

  constructor(socket: Socket, deps: ScpDeps) {
    // connectTimeout is really an idle timeout on the socket (reference/libs.md §1.4).
    super(socket, { connectTimeout: deps.cfg.idleTimeoutMs });
    this.deps = deps;
    this.sock = socket;
    this.peerIp = socket.remoteAddress ?? 'unknown';
    this.openedAt = deps.clock.now();
    // Nagle + delayed ACK stalls each response by 40–90 ms (reference/libs.md §1.7).
    socket.setNoDelay(true);
    this.installGuard();
    const artim = deps.clock.setTimeout(() => {
      if (!this.associationUid && !this.sock.destroyed) {this.drop('No A-ASSOCIATE-RQ within the ARTIM timeout.', ErrorCode.PEER_TIMEOUT);}
    }, deps.cfg.artimTimeoutMs);
    // The library reports socket errors, its idle timeout and unparsable PDUs all as networkError.
    this.on('networkError', (err: Error) => {
      this.drop(err.message, /timeout/i.test(err.message) ? ErrorCode.PEER_TIMEOUT : ErrorCode.PDU_INVALID);
    });
    socket.once('close', () => {
      artim.cancel();
      void this.closed();
    });
  }

  /** Replaces the library's socket 'data' listener with one that checks PDU framing first. */
  private installGuard(): void {
    const [libraryListener, ...others] = this.sock.listeners('data') as ((b: Buffer) => void)[];
    if (!libraryListener || others.length) {throw new Error('dcmjs-dimse socket listeners changed; see patches.ts');}
    this.sock.removeListener('data', libraryListener);
    const guard = createPduGuard(() => ({ associated: this.accepted, maxPduBytes: this.maxPdu() }));
    this.sock.on('data', (chunk: Buffer) => {
      const violation = guard.inspect(chunk);
      if (violation) {
        this.drop(`Protocol violation: ${violation}.`, ErrorCode.PDU_INVALID);
        return;
      }
      libraryListener(chunk);
    });
  }

  private maxPdu(): number {
    return this.association?.getMaxPduLength() ?? this.deps.cfg.maxPduBytes;
  }

  /** Ends the connection at once: used for protocol violations, timeouts and shutdown. */
  drop(reason: string, code: ErrorCode): void {
    if (this.sock.destroyed) {return;}
    this.deps.log.warn({ peerIp: this.peerIp, callingAe: this.callingAe, calledAe: this.calledAe, code, reason }, 'Connection dropped.');
    this.sock.destroy();
  }

  override associationRequested(association: Association): void {
    this.association = association;
    this.callingAe = association.getCallingAeTitle();
    this.calledAe = association.getCalledAeTitle();
    const rejection = this.deps.policy({ calledAe: this.calledAe, callingAe: this.callingAe, peerIp: this.peerIp, openAssociations: this.deps.live.size });
    if (rejection ?? this.deps.isStopping()) {
      const r = rejection ?? { result: 2, source: 3, reason: 2, code: ErrorCode.SHUTTING_DOWN, message: 'The gateway is shutting down.' };
      this.deps.log.warn({ peerIp: this.peerIp, callingAe: this.callingAe, calledAe: this.calledAe, code: r.code, result: r.result, source: r.source, reason: r.reason }, `Association rejected: ${r.message}`);
      this.deps.events.emit('association.rejected', { peerIp: this.peerIp, callingAe: this.callingAe, calledAe: this.calledAe, code: r.code, reason: r.reason });
      this.sendAssociationReject(r.result, r.source, r.reason);
      this.sock.end();
      return;
    }
    // One DIMSE at a time: never echo a larger asynchronous-operations window (libs.md §1.3).
    association.setNegotiateAsyncOps(false);
    association.setMaxAsyncOpsInvoked(1);
    association.setMaxAsyncOpsPerformed(1);
    // The library advertises min(requestor's max, ours); a requestor's 0 means "unlimited".
    const theirs = association.getMaxPduLength();
    association.setMaxPduLength(theirs > 0 ? Math.min(theirs, this.deps.cfg.maxPduBytes) : this.deps.cfg.maxPduBytes);
    negotiateContexts(association);
    this.associationUid = this.deps.intake.openAssociation({ source: 'dimse', callingAe: this.callingAe, calledAe: this.calledAe, peerIp: this.peerIp });
    this.deps.live.add(this);
    this.sendAssociationAccept();
    this.accepted = true;
    this.deps.events.emit('association.opened', { source: 'dimse', associationUid: this.associationUid, peerIp: this.peerIp, callingAe: this.callingAe, calledAe: this.calledAe });
  }

  override associationReleaseRequested(): void {
    this.outcome = 'released';
    // Answer only once the in-flight store (if any) has settled, so nothing is cut short.
    void this.inFlight.then(() => {
      this.sendAssociationReleaseResponse();
    });
  }

  override abort(): void {
    this.outcome = 'aborted';
  }

  override cEchoRequest(request: InstanceType<typeof rq.CEchoRequest>, callback: (response: InstanceType<typeof rs.CEchoResponse>) => void): void {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  override createStoreWritableStream(context: PresentationContext, request: InstanceType<typeof rq.CStoreRequest>): Writable {
    const incoming = this.deps.intake.begin({
      source: 'dimse',
      sopClassUid: request.getAffectedSopClassUid(),
      sopInstanceUid: request.getAffectedSopInstanceUid(),
      transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
      callingAe: this.callingAe,
      calledAe: this.calledAe,
      peerIp: this.peerIp,
      associationUid: this.associationUid ?? '',
    });
    this.current = incoming;
    this.inFlight = new Promise((resolve) => (this.releaseInFlight = resolve));
    const sock = this.sock;
    const writable = new Writable({
      // Large enough that the library's one-off drain wait (first PDV only) never triggers.
      highWaterMark: 4 << 20,
      write(chunk: Buffer, _enc, done) {
        if (incoming.write(chunk)) {
          done();
          return;
        }
        // Disk slower than the network: stop reading the socket until the file catches up,
        // so memory stays flat whatever the instance size.
        sock.pause();
        void incoming.drained().then(() => {
          sock.resume();
          done();
        });
      },
    });
    return writable;
  }

  override createDatasetFromStoreWritableStream(writable: Writable, context: PresentationContext, callback: (dataset: InstanceType<typeof Dataset>) => void): void {
    const incoming = this.current;
    const release = this.releaseInFlight;
    const respond = (result: IngestResult): void => {
      this.lastResult = result;
      this.lastContextId = context.getPresentationContextId();
      this.current = null;
      if (result.ok) {
        this.instances++;
        this.bytes += incoming?.bytesWritten ?? 0;
      }
      if (!this.sock.destroyed) {callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));}
      release();
    };
    const finish = async (): Promise<IngestResult> => {
      if (!incoming) {return { ok: false, code: ErrorCode.SPOOL_WRITE, retryable: true, message: 'No spool file for this C-STORE.' };}
      if (!writable.writableFinished) {await new Promise<void>((resolve) => writable.once('finish', () => { resolve(); }));}
      return incoming.finish();
    };
    finish().then(respond, (err: unknown) => {
      this.deps.log.error({ err }, 'Unexpected failure while storing an instance.');
      respond({ ok: false, code: ErrorCode.SPOOL_WRITE, retryable: true, message: describeError(err) });
    });
  }

  /** Answers with our own encoder instead of the library's callback (see store-response.ts). */
  override cStoreRequest(request: InstanceType<typeof rq.CStoreRequest>): void {
    const result = this.lastResult ?? { ok: false, code: ErrorCode.SPOOL_WRITE, retryable: true, message: 'No result for this C-STORE.' };
    this.lastResult = null;
    const status = storeStatusFor(result);
    if (!result.ok) {
      this.deps.log.warn({ peerIp: this.peerIp, callingAe: this.callingAe, code: result.code, status }, 'C-STORE refused.');
      this.deps.events.emit('instance.failed', { source: 'dimse', code: result.code });
    }
    this.sock.write(
      encodeStoreResponse({
        presentationContextId: this.lastContextId,
        messageIdBeingRespondedTo: request.getMessageId(),
        sopClassUid: request.getAffectedSopClassUid(),
        sopInstanceUid: request.getAffectedSopInstanceUid(),
        status,
        ...(result.ok ? {} : { errorComment: `${result.code}: ${result.message}` }),
      }),
    );
  }

  /** Socket closed: discard a half-received instance, close the association row, log one line. */
  private async closed(): Promise<void> {
    const half = this.current;
    this.current = null;
    if (half) {
      // A no-op when the dataset was complete and is being committed; otherwise removes the temp file.
      await half.abort().catch((err: unknown) => { this.deps.log.error({ err }, 'Removing a partial spool file failed.'); });
      this.releaseInFlight();
    }
    this.deps.live.delete(this);
    if (!this.associationUid) {return;}
    this.deps.intake.closeAssociation(this.associationUid, this.outcome);
    const durationMs = this.deps.clock.now() - this.openedAt;
    this.deps.log.info(
      { associationUid: this.associationUid, peerIp: this.peerIp, callingAe: this.callingAe, calledAe: this.calledAe, instances: this.instances, bytes: this.bytes, durationMs, outcome: this.outcome },
      'Association closed.',
    );
    this.deps.events.emit('association.closed', { source: 'dimse', associationUid: this.associationUid, instances: this.instances, bytes: this.bytes, durationMs, outcome: this.outcome });
  }
}
