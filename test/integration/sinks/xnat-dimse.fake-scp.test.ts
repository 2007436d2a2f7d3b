//! The xnat-dimse sink's error paths against a scripted dcmjs-dimse SCP: statuses, rejects, aborts,
// dropped connections, silence, our own A-ABORT on cancellation, and the XNAT verification hook.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import dimse from 'dcmjs-dimse';
import type { association as assoc, requests as rq, responses as rs } from 'dcmjs-dimse';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { JobContext, SeriesSnapshot } from '../../../src/contracts/component.ts';
import { xnatDimseSinkConfig } from '../../../src/sinks/xnat-dimse/config.ts';
import { create, type XnatDimseDeps } from '../../../src/sinks/xnat-dimse/index.ts';
import { applyDimsePatches } from '../../helpers/dcmjs-dimse-patches.ts';
import type { Verification } from '../../../src/xnat/verify-types.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const { Scp, Dataset } = dimse;
const { CEchoResponse, CStoreResponse } = dimse.responses;
const { PresentationContextResult } = dimse.constants;
type Association = InstanceType<typeof assoc.Association>;
type PresentationContext = InstanceType<typeof assoc.PresentationContext>;

/** What the fake does with the n-th C-STORE (0-based) of the test. */
type Answer = { status: number; comment?: string } | 'abort' | 'close' | 'silent';
interface Script {
  reject?: [result: number, source: number, reason: number];
  onStore: (n: number) => Answer;
}
let script: Script = { onStore: () => ({ status: 0 }) };
/** What the fake saw: datasets received, A-ABORTs received (source, reason), releases. */
const seen = { datasets: [] as Buffer[], aborts: [] as [number, number][], releases: 0 };

class ScriptedScp extends Scp {
  private readonly sock: Socket;
  private chunks: Buffer[] = [];

  constructor(socket: Socket) {
    super(socket, {});
    this.sock = socket;
    socket.setNoDelay(true);
    this.on('networkError', () => {
      socket.destroy();
    });
  }

  override associationRequested(association: Association): void {
    if (script.reject) {
      this.sendAssociationReject(...script.reject);
      return;
    }
    for (const { id } of association.getPresentationContexts()) {
      const pc = association.getPresentationContext(id);
      pc.setResult(PresentationContextResult.Accept, pc.getTransferSyntaxUids()[0]);
    }
    this.sendAssociationAccept();
  }

  override associationReleaseRequested(): void {
    seen.releases++;
    this.sendAssociationReleaseResponse();
  }

  override abort(source: number, reason: number): void {
    seen.aborts.push([source, reason]);
  }

  override cEchoRequest(
    request: InstanceType<typeof rq.CEchoRequest>,
    callback: (response: InstanceType<typeof rs.CEchoResponse>) => void,
  ): void {
    const response = CEchoResponse.fromRequest(request);
    response.setStatus(0);
    callback(response);
  }

  // Keeps the raw dataset bytes: the library would otherwise parse them with dcmjs.
  override createStoreWritableStream(): Writable {
    const chunks: Buffer[] = (this.chunks = []);
    return new Writable({
      write(chunk: Buffer, _enc, done) {
        chunks.push(chunk);
        done();
      },
    });
  }

  override createDatasetFromStoreWritableStream(
    _w: Writable,
    context: PresentationContext,
    callback: (dataset: InstanceType<typeof Dataset>) => void,
  ): void {
    seen.datasets.push(Buffer.concat(this.chunks));
    callback(new Dataset({}, context.getAcceptedTransferSyntaxUid()));
  }

  override cStoreRequest(
    request: InstanceType<typeof rq.CStoreRequest>,
    callback: (response: InstanceType<typeof rs.CStoreResponse>) => void,
  ): void {
    const answer = script.onStore(seen.datasets.length - 1);
    if (answer === 'silent') {
      return;
    }
    if (answer === 'abort') {
      this.sendAbort(2, 0);
      return;
    }
    if (answer === 'close') {
      this.sock.destroy();
      return;
    }
    const response = CStoreResponse.fromRequest(request);
    response.setStatus(answer.status);
    if (answer.comment !== undefined) {
      response.setErrorComment(answer.comment);
    }
    callback(response);
  }
}

describe('xnat-dimse sink → scripted SCP', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-xnat-dimse-fake-'));
  const sockets = new Set<Socket>();
  let server: Server;
  let port = 0;
  let paths: string[] = [];
  const base = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
  const job = (signal = new AbortController().signal): JobContext => ({
    ...base,
    jobId: 1,
    attempt: 1,
    workDir: scratch,
    signal,
  });
  const sink = (deps: XnatDimseDeps = {}, o: Record<string, unknown> = {}): ReturnType<typeof create> =>
    create(xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: '127.0.0.1', port, ...o }), base, deps);
  const where = (): string => `XNAT@127.0.0.1:${String(port)}`;
  let series: SeriesSnapshot;

  beforeAll(async () => {
    applyDimsePatches();
    server = createServer((socket) => {
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', () => {
        socket.destroy();
      });
      new ScriptedScp(socket);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    paths = await writeSeries(join(scratch, 'series'), { count: 5, rows: 16, columns: 16 });
    series = {
      seriesId: 1,
      studyInstanceUid: '1.2.826.0.1',
      seriesInstanceUid: '1.2.826.0.1.2',
      batch: 1,
      modality: 'CT',
      labels: { project: 'P1', subject: 'P1_001', session: 'P1_001_01' },
      instances: paths.map((path, i) => {
        const m = parsePart10Header(readFileSync(path));
        return {
          instanceId: i + 1,
          sopInstanceUid: m?.sopInstanceUid ?? '',
          sopClassUid: m?.sopClassUid ?? '',
          transferSyntaxUid: m?.transferSyntaxUid ?? '',
          instanceNumber: i + 1,
          path,
          size: 0,
        };
      }),
    };
  });
  afterAll(async () => {
    for (const s of sockets) {
      s.destroy();
    }
    await new Promise<void>((resolve) =>
      server.close(() => {
        resolve();
      }),
    );
    rmSync(scratch, { recursive: true, force: true });
  });
  beforeEach(() => {
    script = { onStore: () => ({ status: 0 }) };
    seen.datasets = [];
    seen.aborts = [];
    seen.releases = 0;
  });

  it('sends every dataset as stored and releases the association', async () => {
    const d = await sink().deliver(series, job());
    expect(d).toEqual({
      outcome: 'delivered',
      receipt: `dicom://${where()}: 5 instances (0x0000 ×5)`,
      detail: { sent: 5, statuses: { '0000': 5 } },
    });
    expect(seen.datasets.map((b) => b.toString('hex'))).toEqual(
      paths.map((p) => {
        const b = readFileSync(p);
        return b.subarray(parsePart10Header(b)?.datasetOffset).toString('hex');
      }),
    );
    expect(seen.releases).toBe(1);
  });

  it('delivers with warnings counted apart', async () => {
    script.onStore = (n) => ({ status: n === 1 ? 0xb000 : 0 });
    expect(await sink().deliver(series, job())).toMatchObject({
      outcome: 'delivered',
      receipt: `dicom://${where()}: 5 instances (0x0000 ×4, 0xB000 ×1)`,
      detail: { statuses: { '0000': 4, B000: 1 } },
    });
  });

  it('retries on 0xA700, stopping at that instance', async () => {
    script.onStore = (n) => (n === 2 ? { status: 0xa700, comment: 'Out of disk' } : { status: 0 });
    const d = await sink().deliver(series, job());
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      detail: { sent: 3, statuses: { '0000': 2, A700: 1 }, message: 'Out of disk' },
    });
    expect(d.outcome === 'retry' ? d.reason : '').toBe(
      `ERR_DIMSE_RETRY: ${where()} answered 0xA700 (out of resources) for instance 3 of 5: Out of disk.`,
    );
    expect(seen.datasets).toHaveLength(3);
    expect(seen.releases).toBe(1);
  });

  it("rejects on 0xC000, keeping XNAT's error comment, after sending the rest", async () => {
    script.onStore = (n) => (n === 1 ? { status: 0xc000, comment: 'Unable to identify the project' } : { status: 0 });
    const d = await sink().deliver(series, job());
    expect(d).toMatchObject({
      outcome: 'rejected',
      code: ErrorCode.DIMSE_REJECTED,
      detail: { sent: 5, statuses: { '0000': 4, C000: 1 }, message: 'Unable to identify the project' },
    });
    expect(d.outcome === 'rejected' ? d.reason : '').toMatch(
      /0xC000 \(cannot understand\) for instance 2 of 5: Unable to identify the project/,
    );
  });

  it('rejects a permanent association reject in words, and retries a transient one', async () => {
    script.reject = [1, 1, 7];
    const d = await sink().deliver(series, job());
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.DIMSE_ASSOCIATION });
    expect(d.outcome === 'rejected' ? d.reason : '').toMatch(
      /association rejected permanently by the service user \(called AE title not recognised; result 1, source 1, reason 7\)/,
    );
    await expect(sink().healthcheck(AbortSignal.timeout(5000))).rejects.toThrow(
      `C-ECHO to ${where()} failed: association rejected permanently by the service user (called AE title not recognised; result 1, source 1, reason 7).`,
    );
    script.reject = [2, 3, 1];
    expect(await sink().deliver(series, job())).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_ASSOCIATION,
      reason: expect.stringMatching(/temporary congestion/) as unknown,
    });
  });

  it('retries when the receiver aborts mid-series', async () => {
    script.onStore = (n) => (n === 2 ? 'abort' : { status: 0 });
    const d = await sink().deliver(series, job());
    expect(d).toMatchObject({ outcome: 'retry', code: ErrorCode.DIMSE_RETRY, sinkFault: 'unavailable' });
    expect(d.outcome === 'retry' ? d.reason : '').toBe(
      `ERR_DIMSE_RETRY: ${where()}: association aborted by the service provider (reason not specified; source 2, reason 0) after 2 of 5 instances.`,
    );
  });

  it('retries when the receiver drops the connection mid-series', async () => {
    script.onStore = (n) => (n === 3 ? 'close' : { status: 0 });
    const d = await sink().deliver(series, job());
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      reason: expect.stringMatching(/connection closed.*after 3 of 5 instances/) as unknown,
    });
  });

  it('aborts and retries when a response does not come in time', async () => {
    script.onStore = (n) => (n === 1 ? 'silent' : { status: 0 });
    const d = await sink({}, { responseTimeoutMs: 300 }).deliver(series, job());
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      reason: expect.stringMatching(/no response within 300 ms after 1 of 5 instances/) as unknown,
    });
    await waitFor(() => seen.aborts.length === 1, 'the receiver saw our A-ABORT');
  });

  it('sends A-ABORT and retries when the job is cancelled mid-series', async () => {
    const controller = new AbortController();
    script.onStore = (n) => {
      if (n === 2) {
        controller.abort();
      }
      return n === 2 ? 'silent' : { status: 0 };
    };
    const d = await sink().deliver(series, job(controller.signal));
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      reason: expect.stringMatching(/interrupted after 2 of 5 instances \(A-ABORT sent\)/) as unknown,
    });
    await waitFor(() => seen.aborts.length === 1, 'the receiver saw our A-ABORT');
    expect(seen.aborts[0]).toEqual([0, 0]);
    expect(seen.releases).toBe(0);
  });

  describe('verification', () => {
    const verdict = (v: Partial<Verification>): Verification => ({
      ok: true,
      status: 'RECEIVING',
      uri: '/data/prearchive/projects/P1/1/P1_001_01',
      found: null,
      message: null,
      ...v,
    });

    it('asks XNAT what it built after a clean release and records it', async () => {
      const verify = vi.fn(() => Promise.resolve(verdict({ status: 'ARCHIVED', found: 5 })));
      const d = await sink({ verify }).deliver(series, job());
      expect(verify).toHaveBeenCalledWith(
        {
          labels: series.labels,
          studyInstanceUid: series.studyInstanceUid,
          seriesInstanceUid: series.seriesInstanceUid,
          instances: 5,
          scanId: '1',
          modality: series.modality,
        },
        expect.any(AbortSignal),
      );
      expect(d).toEqual({
        outcome: 'delivered',
        receipt: `dicom://${where()}: 5 instances (0x0000 ×5)`,
        detail: {
          xnatStatus: 'ARCHIVED',
          sent: 5,
          found: 5,
          uri: '/data/prearchive/projects/P1/1/P1_001_01',
          statuses: { '0000': 5 },
        },
      });
    });

    it("rejects a conflict or a mismatch with XNAT's message", async () => {
      const conflict = vi.fn(() =>
        Promise.resolve(
          verdict({ ok: false, status: 'CONFLICT', message: 'Session already exists with another subject' }),
        ),
      );
      expect(await sink({ verify: conflict }).deliver(series, job())).toMatchObject({
        outcome: 'rejected',
        code: ErrorCode.XNAT_CONFLICT,
        reason: 'Session already exists with another subject',
      });
      const short = vi.fn(() =>
        Promise.resolve(verdict({ ok: false, status: 'READY', found: 3, message: 'XNAT holds 3 of 5 instances' })),
      );
      expect(await sink({ verify: short }).deliver(series, job())).toMatchObject({
        outcome: 'rejected',
        code: ErrorCode.XNAT_VERIFY,
        detail: { found: 3, sent: 5 },
      });
    });

    it('is not asked when the delivery failed; a lookup that cannot be made means "not verified yet" (retry), not delivered', async () => {
      script.onStore = () => ({ status: 0xa700 });
      const verify = vi.fn(() => Promise.reject(new Error('XNAT is down')));
      expect((await sink({ verify }).deliver(series, job())).outcome).toBe('retry');
      expect(verify).not.toHaveBeenCalled();
      script.onStore = () => ({ status: 0 });
      // The originals are removed only after a verified delivery, so an unverified one is tried again.
      expect(await sink({ verify }).deliver(series, job())).toMatchObject({
        outcome: 'retry',
        code: ErrorCode.XNAT_UNVERIFIED,
        detail: { message: 'Not verified yet: XNAT is down' },
      });
      const pending = vi.fn(() =>
        Promise.resolve(
          verdict({
            ok: 'pending',
            status: 'ARCHIVED',
            found: null,
            message: 'Not verified yet: XNAT answered 404 for the scan listing.',
          }),
        ),
      );
      expect(await sink({ verify: pending }).deliver(series, job())).toMatchObject({
        outcome: 'retry',
        code: ErrorCode.XNAT_UNVERIFIED,
        reason: 'Not verified yet: XNAT answered 404 for the scan listing.',
      });
    });
  });
});
