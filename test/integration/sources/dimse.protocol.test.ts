// Hostile and edge-case peers: the fixes we layered over dcmjs-dimse, each with a regression test.
import { Socket } from 'node:net';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { encodeInstance } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import {
  acceptUserItems,
  associateRq,
  echoRq,
  parseReject,
  pdata,
  rawConnect,
  releaseRq,
  storeRqCommand,
} from '../../helpers/pdu.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const ELE = '1.2.840.10008.1.2.1';

describeWithPeers(['echoscu'], 'DIMSE receiver against hostile and edge-case peers', () => {
  let gw: TestDaemon;
  beforeAll(async () => {
    gw = await startTestDaemon({
      dimse: {
        port: 0,
        host: '127.0.0.1',
        maxAssociations: 2,
        artimTimeoutMs: 300,
        idleTimeoutMs: 1500,
        maxPduBytes: 16384,
      },
    });
  });
  afterAll(async () => gw.stop());
  const echoOk = async (): Promise<void> => {
    const r = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };

  it('sets TCP no-delay on every accepted socket', async () => {
    const seen: { port: number; on: boolean | undefined }[] = [];
    // eslint-disable-next-line @typescript-eslint/unbound-method -- kept only to be re-invoked with the socket as `this` (orig.call below)
    const orig = Socket.prototype.setNoDelay;
    const spy = vi.spyOn(Socket.prototype, 'setNoDelay').mockImplementation(function (this: Socket, on?: boolean) {
      seen.push({ port: this.localPort ?? 0, on });
      return orig.call(this, on);
    });
    try {
      await echoOk();
    } finally {
      spy.mockRestore();
    }
    expect(seen.filter((s) => s.port === gw.dimsePort)).toEqual([{ port: gw.dimsePort, on: true }]);
  });

  it('drops a peer that declares a 4 GB A-ASSOCIATE-RQ at once, without buffering it', async () => {
    const peer = await rawConnect(gw.dimsePort);
    const head = Buffer.from([0x01, 0x00, 0xff, 0xff, 0xff, 0xf0]);
    peer.socket.write(Buffer.concat([head, Buffer.alloc(64 * 1024)]));
    const t0 = Date.now();
    await peer.closed;
    expect(Date.now() - t0).toBeLessThan(2000);
    await echoOk();
  });

  it('drops a peer that sends P-DATA before associating', async () => {
    const peer = await rawConnect(gw.dimsePort);
    peer.socket.write(echoRq(1));
    await peer.closed;
    await echoOk();
  });

  it('drops a peer whose P-DATA-TF exceeds the negotiated maximum PDU length', async () => {
    const peer = await rawConnect(gw.dimsePort);
    peer.socket.write(associateRq());
    expect(await peer.firstPduType()).toBe(0x02);
    const max = acceptUserItems(peer.received()).get(0x51)?.readUInt32BE(0);
    expect(max).toBe(16384);
    peer.socket.write(pdata(1, 0x00, Buffer.alloc(64 * 1024)));
    await peer.closed;
    await echoOk();
  });

  it('never echoes a proposed asynchronous operations window larger than 1', async () => {
    const peer = await rawConnect(gw.dimsePort);
    peer.socket.write(associateRq({ asyncOps: [8, 8] }));
    expect(await peer.firstPduType()).toBe(0x02);
    const window = acceptUserItems(peer.received()).get(0x53);
    if (window) {
      expect([window.readUInt16BE(0), window.readUInt16BE(2)]).toEqual([1, 1]);
    }
    peer.socket.write(releaseRq());
    peer.socket.destroy();
  });

  it('closes a connection that sends no A-ASSOCIATE-RQ within the ARTIM timeout', async () => {
    const peer = await rawConnect(gw.dimsePort);
    const t0 = Date.now();
    await peer.closed;
    expect(Date.now() - t0).toBeLessThan(3000);
  });

  it('aborts an association that stays idle past the idle timeout', async () => {
    const peer = await rawConnect(gw.dimsePort);
    peer.socket.write(associateRq());
    expect(await peer.firstPduType()).toBe(0x02);
    const t0 = Date.now();
    await peer.closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000);
    expect(Date.now() - t0).toBeLessThan(5000);
  });

  it('rejects associations beyond the limit transiently (reason 2) and accepts again when one closes', async () => {
    const held = [await rawConnect(gw.dimsePort), await rawConnect(gw.dimsePort)];
    for (const p of held) {
      p.socket.write(associateRq());
      expect(await p.firstPduType()).toBe(0x02);
    }
    const third = await rawConnect(gw.dimsePort);
    third.socket.write(associateRq());
    expect(await third.firstPduType()).toBe(0x03);
    expect(parseReject(third.received())).toEqual({ result: 2, source: 3, reason: 2 });
    const r = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)]);
    expect(r.stdout + r.stderr).toMatch(/Local Limit Exceeded/i);
    for (const p of held) {
      p.socket.write(releaseRq());
      p.socket.end();
      await p.closed;
    }
    await waitFor(
      async () => (await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)])).code === 0,
      'echo accepted again',
    );
  });

  it('streams a C-STORE dataset to disk as it arrives and removes the partial file when the peer drops', async () => {
    const instance = encodeInstance({ rows: 1024, columns: 1024 });
    const dataset = instance.bytes.subarray(parsePart10Header(instance.bytes)?.datasetOffset ?? 0);
    const peer = await rawConnect(gw.dimsePort);
    peer.socket.write(associateRq({ contexts: [{ id: 1, abstractSyntax: CT, transferSyntaxes: [ELE] }] }));
    expect(await peer.firstPduType()).toBe(0x02);
    peer.socket.write(pdata(1, 0x03, storeRqCommand(1, CT, instance.sopInstanceUid)));
    const held = dataset.length - 1000; // everything but the last fragment
    for (let off = 0; off < held; off += 16000) {
      peer.socket.write(pdata(1, 0x00, dataset.subarray(off, Math.min(off + 16000, held))));
    }
    const spool = join(gw.dataDir, 'spool');
    const files = (): { path: string; size: number }[] =>
      readdirSync(spool, { recursive: true, withFileTypes: true })
        .filter((e) => e.isFile())
        .map((e) => ({ path: join(e.parentPath, e.name), size: statSync(join(e.parentPath, e.name)).size }));
    // Bytes reach the spool file while the dataset is still incomplete: nothing is held in memory.
    await waitFor(() => files().some((f) => f.size >= held), 'partial spool file on disk', 10_000);
    peer.socket.destroy();
    // Empty pre-created slots may remain; no written byte of the dropped instance does.
    await waitFor(() => files().every((f) => f.size === 0), 'partial spool file removed', 10_000);
    expect(gw.daemon.db.prepare('SELECT count(*) FROM instances').pluck().get()).toBe(0);
    await echoOk();
  });
});
