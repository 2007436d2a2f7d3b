//! The xnat-dimse SCU against a raw node:net peer: PDU sizes it is held to, release collisions,
//! protocol violations (answered with A-ABORT), oversized PDUs and a peer that never answers.
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { JobContext, SeriesSnapshot } from '../../../src/contracts/component.ts';
import { xnatDimseSinkConfig } from '../../../src/sinks/xnat-dimse/config.ts';
import { create } from '../../../src/sinks/xnat-dimse/index.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const pdu = (type: number, body: Buffer): Buffer => {
  const h = Buffer.alloc(6);
  h.writeUInt8(type, 0);
  h.writeUInt32BE(body.length, 2);
  return Buffer.concat([h, body]);
};
const item = (type: number, body: Buffer): Buffer => {
  const h = Buffer.alloc(4);
  h.writeUInt8(type, 0);
  h.writeUInt16BE(body.length, 2);
  return Buffer.concat([h, body]);
};

/** An A-ASSOCIATE-AC accepting context 1 with Explicit VR LE and announcing `maxPdu`. */
function associateAc(maxPdu: number): Buffer {
  const max = Buffer.alloc(4);
  max.writeUInt32BE(maxPdu, 0);
  return pdu(
    0x02,
    Buffer.concat([
      Buffer.from([0, 1, 0, 0]),
      Buffer.alloc(64, 0x20),
      item(0x10, Buffer.from('1.2.840.10008.3.1.1.1')),
      item(0x21, Buffer.concat([Buffer.from([1, 0, 0, 0]), item(0x40, Buffer.from('1.2.840.10008.1.2.1'))])),
      item(0x50, Buffer.concat([item(0x51, max), item(0x52, Buffer.from('1.2.3'))])),
    ]),
  );
}

const el = (elem: number, value: Buffer): Buffer => {
  const h = Buffer.alloc(8);
  h.writeUInt16LE(0, 0);
  h.writeUInt16LE(elem, 2);
  h.writeUInt32LE(value.length, 4);
  return Buffer.concat([h, value]);
};
const us = (n: number): Buffer => Buffer.from([n & 0xff, n >> 8]);

/** A C-STORE-RSP command PDU with status 0 answering `messageId`. */
function storeRsp(messageId: number): Buffer {
  const body = Buffer.concat([
    el(0x0100, us(0x8001)),
    el(0x0120, us(messageId)),
    el(0x0800, us(0x0101)),
    el(0x0900, us(0)),
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32LE(body.length, 0);
  const command = Buffer.concat([el(0, len), body]);
  const pdv = Buffer.alloc(6);
  pdv.writeUInt32BE(command.length + 2, 0);
  pdv.writeUInt8(1, 4);
  pdv.writeUInt8(3, 5);
  return pdu(0x04, Buffer.concat([pdv, command]));
}

/** How the peer behaves, and what it saw: every PDU (type, length) and each P-DATA fragment (command?, last?, length). */
interface Peer {
  maxPdu: number;
  onFirstData?: (s: Socket) => void;
  onReleaseRq?: (s: Socket) => void;
  silent?: boolean;
  /** Type, length and (for short PDUs) the body in hex. */
  pdus: [number, number, string][];
  fragments: [boolean, boolean, number][];
}
let peer: Peer = { maxPdu: 16384, pdus: [], fragments: [] };

function handle(socket: Socket): void {
  let buf = Buffer.alloc(0);
  let sentFirst = false;
  socket.on('data', (chunk: Buffer) => {
    buf = Buffer.concat([buf, chunk]);
    while (buf.length >= 6 && buf.length >= 6 + buf.readUInt32BE(2)) {
      const type = buf.readUInt8(0);
      const body = buf.subarray(6, 6 + buf.readUInt32BE(2));
      buf = buf.subarray(6 + body.length);
      peer.pdus.push([type, body.length, body.length <= 16 ? body.toString('hex') : '']);
      if (type === 0x01 && !peer.silent) {
        socket.write(associateAc(peer.maxPdu));
      }
      if (type === 0x05) {
        if (peer.onReleaseRq) {
          peer.onReleaseRq(socket);
        } else {
          socket.write(pdu(0x06, Buffer.alloc(4)));
        }
      }
      if (type !== 0x04) {
        continue;
      }
      const flags = body.readUInt8(5);
      peer.fragments.push([(flags & 1) === 1, (flags & 2) === 2, body.readUInt32BE(0) - 2]);
      if (!sentFirst && (flags & 1) === 0 && peer.onFirstData) {
        sentFirst = true;
        peer.onFirstData(socket);
      }
      // The dataset's last fragment: answer the (single) outstanding request.
      if (flags === 2) {
        socket.write(storeRsp(peer.fragments.filter(([c]) => c).length));
      }
    }
  });
  socket.on('error', () => undefined);
}

describe('xnat-dimse sink → raw peer', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-xnat-dimse-raw-'));
  let server: Server;
  let port = 0;
  let series: SeriesSnapshot;
  const base = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
  const job: JobContext = { ...base, jobId: 1, attempt: 1, workDir: scratch, signal: new AbortController().signal };
  const sink = (o: Record<string, unknown> = {}): ReturnType<typeof create> =>
    create(xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: '127.0.0.1', port, ...o }), base);

  beforeAll(async () => {
    server = createServer(handle);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as AddressInfo).port;
    const paths = await writeSeries(join(scratch, 'series'), { count: 3, rows: 64, columns: 64 });
    series = {
      seriesId: 1,
      studyInstanceUid: '1.2.3',
      seriesInstanceUid: '1.2.3.4',
      batch: 1,
      modality: 'CT',
      labels: { project: 'P', subject: 'S', session: 'E' },
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
    server.close();
    await Promise.resolve();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('keeps every P-DATA-TF within the maximum the peer announced, fragments full and even but the last', async () => {
    peer = { maxPdu: 4096, pdus: [], fragments: [] };
    expect((await sink().deliver(series, job)).outcome).toBe('delivered');
    expect(Math.max(...peer.pdus.filter(([t]) => t === 4).map(([, n]) => n))).toBe(4096);
    const data = peer.fragments.filter(([command]) => !command);
    expect(
      data
        .filter(([, last]) => !last)
        .map(([, , n]) => n)
        .every((n) => n === 4090),
    ).toBe(true);
    expect(data.filter(([, last]) => last)).toHaveLength(3);
    // Each dataset ends with its last fragment before the next command starts.
    peer.fragments.forEach(([command], i) => {
      if (command && i > 0) {
        expect(peer.fragments[i - 1]?.[1]).toBe(true);
      }
    });
  });

  it('takes a release collision for a release', async () => {
    peer = {
      maxPdu: 16384,
      pdus: [],
      fragments: [],
      onReleaseRq: (s) => {
        s.write(pdu(0x05, Buffer.alloc(4)));
      },
    };
    expect((await sink().deliver(series, job)).outcome).toBe('delivered');
    await waitFor(() => peer.pdus.some(([t]) => t === 0x06), 'our A-RELEASE-RP');
  });

  it('answers an unknown PDU with A-ABORT (service provider, unexpected PDU) and retries', async () => {
    peer = {
      maxPdu: 16384,
      pdus: [],
      fragments: [],
      onFirstData: (s) => {
        s.write(pdu(0x09, Buffer.alloc(4)));
      },
    };
    const d = await sink().deliver(series, job);
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      reason: expect.stringMatching(/protocol error: unknown PDU type 0x09/) as unknown,
    });
    await waitFor(() => peer.pdus.some(([t]) => t === 0x07), 'our A-ABORT');
    expect(peer.pdus.find(([t]) => t === 0x07)?.[2]).toBe('00000202');
  });

  it('refuses a P-DATA-TF longer than our maximum without buffering it', async () => {
    peer = {
      maxPdu: 16384,
      pdus: [],
      fragments: [],
      onFirstData: (s) => {
        s.write(Buffer.from([0x04, 0, 0x7f, 0xff, 0xff, 0xff]));
      },
    };
    const d = await sink({ maxPduLength: 4096 }).deliver(series, job);
    expect(d).toMatchObject({
      outcome: 'retry',
      reason: expect.stringMatching(/exceeds our limit of 4096/) as unknown,
    });
  });

  it('gives up on a peer that never answers the A-ASSOCIATE-RQ', async () => {
    peer = { maxPdu: 16384, pdus: [], fragments: [], silent: true };
    const d = await sink({ responseTimeoutMs: 200 }).deliver(series, job);
    expect(d).toMatchObject({
      outcome: 'retry',
      code: ErrorCode.DIMSE_RETRY,
      sinkFault: 'unavailable',
      reason: expect.stringMatching(/no A-ASSOCIATE-AC within 200 ms/) as unknown,
    });
  });
});
