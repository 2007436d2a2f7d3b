//! The fake XNAT's DICOM receiver: a dcmjs-dimse Scp with XNAT's AE check, C-STORE statuses and header routing.
import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { Readable, Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import type { association as assoc, requests as rq, responses as rs } from 'dcmjs-dimse';
import { applyDimsePatches } from '../dcmjs-dimse-patches.ts';
import { toPart10 } from './dicom.ts';
import type { FaultQueue } from './faults.ts';
import { readObject } from './import.ts';
import { addFile, fileRecOf, type Model } from './model.ts';
import { resolveTarget } from './routing.ts';

const { Scp, Dataset } = dimse;
const { CEchoResponse, CStoreResponse } = dimse.responses;
const { Status, PresentationContextResult, RejectResult, RejectSource, RejectReason } = dimse.constants;
type Association = InstanceType<typeof assoc.Association>;
type PresentationContext = InstanceType<typeof assoc.PresentationContext>;

const VERIFICATION = '1.2.840.10008.1.1';
/** Storage SOP classes (PS3.4 Annex B) and the RT/other storage roots XNAT's receiver accepts. */
const STORAGE = /^1\.2\.840\.10008\.5\.1\.4\.(1\.1|34|38|43|44|45)\./;
/** Every standard transfer syntax; the first one the requestor proposes wins. */
const STANDARD_SYNTAX = /^1\.2\.840\.10008\.1\.2(\.|$)/;

interface ScpDeps {
  readonly aeTitle: string;
  readonly model: Model;
  readonly faults: FaultQueue;
  readonly now: () => number;
}

/** Answers `request` with `status` (and an error comment) after routing the instance into the prearchive. */
async function storeInstance(deps: ScpDeps, part10: Buffer): Promise<{ status: number; comment?: string }> {
  const o = await readObject(Readable.from([part10]), 'C-STORE dataset');
  if (typeof o === 'string') {
    // CStoreService: a ClientException (unreadable object, missing UIDs) is 0xC000.
    return { status: 0xc000, comment: o.slice(0, 64) };
  }
  // Files received over DICOM are routed as the receivedFileUser, a site admin: any existing project qualifies.
  const target = resolveTarget(o.header, { autoArchive: false }, (p) => deps.model.projects.has(p));
  addFile(deps.model, target, o.header.studyUid ?? '', fileRecOf(o), deps.now());
  return { status: Status.Success };
}

class FakeXnatScp extends Scp {
  private readonly deps: ScpDeps;
  private readonly sock: Socket;
  private chunks: Buffer[] = [];
  private request: { sopClassUid: string; sopInstanceUid: string } | null = null;
  private result: Promise<{ status: number; comment?: string } | 'abort'> = Promise.resolve({ status: 0xa700 });

  constructor(socket: Socket, deps: ScpDeps) {
    super(socket, {});
    this.deps = deps;
    this.sock = socket;
    socket.setNoDelay(true);
    this.on('networkError', () => {
      socket.destroy();
    });
  }

  override associationRequested(association: Association): void {
    if (association.getCalledAeTitle() !== this.deps.aeTitle) {
      this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CalledAeNotRecognized);
      this.sock.end();
      return;
    }
    for (const { id } of association.getPresentationContexts()) {
      const pc = association.getPresentationContext(id);
      const abstract = pc.getAbstractSyntaxUid();
      const ts = pc.getTransferSyntaxUids().find((t) => STANDARD_SYNTAX.test(t));
      if (abstract !== VERIFICATION && !STORAGE.test(abstract)) {
        pc.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
      } else if (ts === undefined) {
        pc.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
      } else {
        pc.setResult(PresentationContextResult.Accept, ts);
      }
    }
    this.sendAssociationAccept();
  }

  override associationReleaseRequested(): void {
    this.sendAssociationReleaseResponse();
  }

  override cEchoRequest(
    request: InstanceType<typeof rq.CEchoRequest>,
    callback: (response: InstanceType<typeof rs.CEchoResponse>) => void,
  ): void {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(Status.Success);
    callback(response);
  }

  // A test double: instances are small, so the dataset is collected in memory.
  override createStoreWritableStream(
    _context: PresentationContext,
    request: InstanceType<typeof rq.CStoreRequest>,
  ): Writable {
    this.chunks = [];
    this.request = {
      sopClassUid: request.getAffectedSopClassUid(),
      sopInstanceUid: request.getAffectedSopInstanceUid(),
    };
    const chunks = this.chunks;
    return new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
  }

  override createDatasetFromStoreWritableStream(
    writable: Writable,
    context: PresentationContext,
    callback: (dataset: InstanceType<typeof Dataset>) => void,
  ): void {
    const ts = context.getAcceptedTransferSyntaxUid() ?? '1.2.840.10008.1.2';
    const finished = writable.writableFinished
      ? Promise.resolve()
      : new Promise<void>((resolve) =>
          writable.once('finish', () => {
            resolve();
          }),
        );
    const fault = this.deps.faults.takeDicom();
    const chunks = this.chunks;
    const r = this.request;
    this.result = finished.then(() => {
      if (fault?.abort === true) {
        return 'abort' as const;
      }
      if (fault) {
        return { status: fault.status ?? 0xa700, ...(fault.comment === undefined ? {} : { comment: fault.comment }) };
      }
      return storeInstance(this.deps, toPart10(Buffer.concat(chunks), ts, r?.sopClassUid, r?.sopInstanceUid));
    });
    // The library only needs a dataset to hand to cStoreRequest; the bytes are ours already.
    callback(new Dataset({}, ts));
  }

  override cStoreRequest(
    request: InstanceType<typeof rq.CStoreRequest>,
    callback: (response: InstanceType<typeof rs.CStoreResponse>) => void,
  ): void {
    void this.result.then((r) => {
      if (r === 'abort') {
        this.sendAbort();
        this.sock.destroy();
        return;
      }
      const response = CStoreResponse.fromRequest(request);
      response.setStatus(r.status);
      if (r.comment !== undefined) {
        response.setErrorComment(r.comment);
      }
      callback(response);
    });
  }
}

export interface DicomSide {
  readonly port: number;
  readonly aeTitle: string;
  close(): Promise<void>;
}

/** Starts the SCP on 127.0.0.1, port 0. */
export async function startScp(deps: ScpDeps): Promise<DicomSide> {
  applyDimsePatches();
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', () => {
      socket.destroy();
    });
    new FakeXnatScp(socket, deps);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resolve();
    });
  });
  return {
    port: (server.address() as AddressInfo).port,
    aeTitle: deps.aeTitle,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) {
          s.destroy();
        }
        server.close(() => {
          resolve();
        });
      }),
  };
}
