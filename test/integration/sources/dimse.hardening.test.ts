// Issue 18 regressions, one per finding: each failed against 75783e0 (the daemon crashed, answered
// Success for a broken instance, left a peer unanswered, or let one address lock everyone out).
import { randomBytes } from 'node:crypto';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseDataset } from '../../../src/dicom/dataset.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { elementHeader, encodeDataset, syntaxOf, TransferSyntax } from '../../helpers/dicom-encoder.ts';
import { encodeInstance, newUid } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import {
  associateRq,
  nextResponse,
  pdata,
  rawConnect,
  releaseRq,
  sendStore,
  storeRqCommand,
  type RawPeer,
} from '../../helpers/pdu.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const CT = '1.2.840.10008.5.1.4.1.1.2';
const SR = '1.2.840.10008.5.1.4.1.1.88.11';
const ELE = '1.2.840.10008.1.2.1';
const ELE_ENC = { explicitVr: true, littleEndian: true, deflated: false };
const S = syntaxOf(TransferSyntax.ExplicitVRLittleEndian);

/** Reads the A-ASSOCIATE-AC's presentation context items: [id, result] in order. */
function acContexts(body: Buffer): [number, number][] {
  const out: [number, number][] = [];
  for (let pos = 68; pos + 4 <= body.length;) {
    const type = body.readUInt8(pos);
    const len = body.readUInt16BE(pos + 2);
    if (type === 0x21) {
      out.push([body.readUInt8(pos + 4), body.readUInt8(pos + 6)]);
    }
    pos += 4 + len;
  }
  return out;
}

describeWithPeers(['echoscu', 'storescu'], 'DIMSE receiver hardening (issue 18)', () => {
  let gw: TestDaemon;
  beforeAll(async () => {
    gw = await startTestDaemon({
      dimse: {
        port: 0,
        host: '127.0.0.1',
        maxAssociations: 8,
        maxAssociationsPerPeer: 3,
        maxPendingPerPeer: 4,
        artimTimeoutMs: 1500,
        idleTimeoutMs: 60_000,
        maxPduBytes: 16384,
      },
    });
  });
  afterAll(async () => gw.stop());
  const echoOk = async (): Promise<void> => {
    const r = await run('echoscu', ['-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
  };
  const associate = async (
    contexts = [
      { id: 1, abstractSyntax: CT, transferSyntaxes: [ELE] },
      { id: 3, abstractSyntax: SR, transferSyntaxes: [ELE] },
    ],
    local?: string,
  ): Promise<RawPeer> => {
    const peer = await rawConnect(gw.dimsePort, '127.0.0.1', local);
    peer.socket.write(associateRq({ contexts }));
    const ac = await peer.nextPdu();
    expect(ac === 'closed' || ac === 'timeout' ? ac : ac.type).toBe(0x02);
    return peer;
  };
  const end = async (peer: RawPeer): Promise<void> => {
    peer.socket.destroy();
    await peer.closed;
  };

  describe('A-ASSOCIATE-RQ edge cases get a valid answer, never a crash', () => {
    it.each([129, 200, 300])(
      'answers %i presentation contexts (ids wrapping past 255) with 128 odd, distinct, proposed ids',
      async (n) => {
        const contexts = Array.from({ length: n }, (_, i) => ({
          id: (i * 2 + 1) % 256,
          abstractSyntax: CT,
          transferSyntaxes: [ELE],
        }));
        const peer = await rawConnect(gw.dimsePort);
        peer.socket.write(associateRq({ contexts }));
        const ac = await peer.nextPdu();
        if (ac === 'closed' || ac === 'timeout') {
          throw new Error(`no answer: ${ac}`);
        }
        expect(ac.type).toBe(0x02);
        const ids = acContexts(ac.body).map(([id]) => id);
        expect(ids).toHaveLength(128);
        expect(new Set(ids).size).toBe(128);
        expect(ids.every((id) => id % 2 === 1 && id <= 255)).toBe(true);
        peer.socket.write(releaseRq());
        expect(await peer.nextPdu()).toMatchObject({ type: 0x06 });
        await end(peer);
        await echoOk();
      },
    );

    it('answers each context with the id the requestor gave it, in any order, never renumbered', async () => {
      const peer = await rawConnect(gw.dimsePort);
      peer.socket.write(
        associateRq({
          contexts: [5, 3, 1, 3, 2, 0].map((id) => ({ id, abstractSyntax: CT, transferSyntaxes: [ELE] })),
        }),
      );
      const ac = await peer.nextPdu();
      if (ac === 'closed' || ac === 'timeout') {
        throw new Error(ac);
      }
      expect(acContexts(ac.body)).toEqual([
        [5, 0],
        [3, 0],
        [1, 0],
      ]);
      await end(peer);
    });

    it('rejects (permanent, reason 1) a request whose every id is even, zero or repeated, and one with no context at all', async () => {
      for (const contexts of [[0, 2, 4].map((id) => ({ id, abstractSyntax: CT, transferSyntaxes: [ELE] })), []]) {
        const peer = await rawConnect(gw.dimsePort);
        peer.socket.write(associateRq({ contexts }));
        const rj = await peer.nextPdu();
        if (rj === 'closed' || rj === 'timeout') {
          throw new Error(rj);
        }
        expect(rj.type).toBe(0x03);
        expect([...rj.body.subarray(1, 4)]).toEqual([1, 1, 1]);
        await peer.closed;
      }
    });

    it('answers absurd item lengths with an A-ABORT (invalid PDU parameter) and closes', async () => {
      const rq = associateRq();
      const broken = [Buffer.from(rq), Buffer.from(rq), rq.subarray(0, rq.length - 10)];
      broken[0]?.writeUInt16BE(0xffff, 6 + 68 + 2); // application context item claims 65,535 bytes
      const at = rq.indexOf(Buffer.from([0x20, 0x00]), 6 + 68);
      broken[1]?.writeUInt16BE(3, at + 2); // presentation context item shorter than its fixed bytes
      const cut = broken[2];
      if (cut) {
        cut.writeUInt32BE(cut.length - 6, 2);
      } // PDU length says it ends where the bytes end, mid-item
      for (const b of broken) {
        const peer = await rawConnect(gw.dimsePort);
        peer.socket.write(b);
        const abort = await peer.nextPdu();
        if (abort === 'closed' || abort === 'timeout') {
          throw new Error(abort);
        }
        expect(abort.type).toBe(0x07);
        expect([...abort.body.subarray(2, 4)]).toEqual([2, 6]);
        await peer.closed;
      }
      await echoOk();
    });
  });

  describe('instances are checked whole before Success; nothing broken is kept', () => {
    const base = (): ReturnType<typeof encodeInstance> => encodeInstance({ omitFileMeta: true, rows: 16, columns: 16 });
    const uids = (sop: string): Buffer =>
      encodeDataset(
        [
          { tag: 0x00080016, vr: 'UI', value: SR },
          { tag: 0x00080018, vr: 'UI', value: sop },
        ],
        S,
      );
    const studySeries = (): Buffer =>
      encodeDataset(
        [
          { tag: 0x0020000d, vr: 'UI', value: newUid() },
          { tag: 0x0020000e, vr: 'UI', value: newUid() },
        ],
        S,
      );
    const nested = (depth: number): Buffer => {
      const open = Buffer.concat([
        elementHeader(0x00081140, 'SQ', 0xffffffff, S),
        Buffer.from('feff00e0ffffffff', 'hex'),
      ]);
      const close = Buffer.from('feff0de000000000feffdde000000000', 'hex');
      return Buffer.concat([
        ...Array<Buffer>(depth).fill(open),
        encodeDataset([{ tag: 0x00081150, vr: 'UI', value: '1.2' }], S),
        ...Array<Buffer>(depth).fill(close),
      ]);
    };

    type Case = { name: string; sop: string; klass: string; dataset: Buffer; status: number; code: RegExp };
    const cases = (): Case[] => {
      const ct = base();
      const els = parseDataset(ct.bytes, ELE_ENC).elements;
      const pixel = els.at(-1);
      const seq = els.find((e) => e.tag === 0x00081140);
      if (!pixel || !seq) {
        throw new Error('factory layout changed');
      }
      const longer = Buffer.from(ct.bytes);
      longer.writeUInt32LE(16 * 16 * 2 + 64, pixel.start + 8);
      const unclosed = Buffer.concat([ct.bytes.subarray(0, seq.end - 8), ct.bytes.subarray(seq.end)]);
      const sr = (sop: string, middle: Buffer): Buffer => Buffer.concat([uids(sop), middle, studySeries()]);
      const srSop = [newUid(), newUid(), newUid()];
      return [
        {
          name: 'pixel data cut short',
          sop: ct.sopInstanceUid,
          klass: CT,
          dataset: ct.bytes.subarray(0, ct.bytes.length - 10),
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE/,
        },
        {
          name: 'pixel data declared longer than sent',
          sop: ct.sopInstanceUid,
          klass: CT,
          dataset: longer,
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE/,
        },
        {
          name: 'an undefined-length sequence never closed',
          sop: ct.sopInstanceUid,
          klass: CT,
          dataset: unclosed,
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE/,
        },
        {
          name: 'garbage after the last element',
          sop: ct.sopInstanceUid,
          klass: CT,
          dataset: Buffer.concat([ct.bytes, Buffer.from('garbage!')]),
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE/,
        },
        {
          name: 'an image cut before its pixel data',
          sop: ct.sopInstanceUid,
          klass: CT,
          dataset: ct.bytes.subarray(0, pixel.start),
          status: 0xa900,
          code: /ERR_DICOM_NO_PIXEL_DATA/,
        },
        {
          name: 'sequences nested 64 deep',
          sop: srSop[0] ?? '',
          klass: SR,
          dataset: sr(srSop[0] ?? '', nested(64)),
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE: .*Sequences nested/,
        },
        {
          name: 'sequences nested 2,000 deep',
          sop: srSop[1] ?? '',
          klass: SR,
          dataset: sr(srSop[1] ?? '', nested(2000)),
          status: 0xc000,
          code: /ERR_DICOM_UNPARSABLE: .*Sequences nested/,
        },
        {
          name: 'sequences nested 32 deep (allowed)',
          sop: srSop[2] ?? '',
          klass: SR,
          dataset: sr(srSop[2] ?? '', nested(32)),
          status: 0,
          code: /^$/,
        },
      ];
    };

    it('refuses each broken instance with 0xC000 or 0xA900 naming the reason, keeps nothing, and stores the good one', async () => {
      const peer = await associate();
      const all = cases();
      const good = base();
      let id = 1;
      for (const c of [
        ...all,
        { name: 'good', sop: good.sopInstanceUid, klass: CT, dataset: good.bytes, status: 0, code: /^$/ },
      ]) {
        sendStore(peer, {
          pcId: c.klass === CT ? 1 : 3,
          messageId: id++,
          sopClassUid: c.klass,
          sopInstanceUid: c.sop,
          dataset: c.dataset,
          fragment: 16_000,
        });
        const r = await nextResponse(peer);
        if (typeof r === 'string') {
          throw new Error(`${c.name}: ${r}`);
        }
        expect({ name: c.name, status: r.status }).toEqual({ name: c.name, status: c.status });
        expect(r.errorComment, c.name).toMatch(c.code);
      }
      peer.socket.write(releaseRq());
      await peer.closed;
      const rows = gw.daemon.db.prepare('SELECT sop_instance_uid FROM instances').pluck().all() as string[];
      expect(rows.sort()).toEqual([good.sopInstanceUid, all.at(-1)?.sop].sort());
      const spool = join(gw.dataDir, 'spool');
      const written = readdirSync(spool, { recursive: true, withFileTypes: true }).filter(
        (e) => e.isFile() && statSync(join(e.parentPath, e.name)).size > 0,
      );
      expect(written).toHaveLength(2);
    });

    it('answers a C-STORE-RQ without a dataset with a permanent failure (0xC000), not 0xA700', async () => {
      const peer = await associate();
      const noData = Buffer.from(storeRqCommand(1, CT, newUid()));
      // CommandDataSetType (0000,0800) is the fifth element: find its value and mark "no dataset".
      const at = noData.indexOf(Buffer.from('0000000802000000', 'hex'));
      noData.writeUInt16LE(0x0101, at + 8);
      peer.socket.write(pdata(1, 0x03, noData));
      const r = await nextResponse(peer);
      expect(r).toMatchObject({ commandField: 0x8001, status: 0xc000 });
      await end(peer);
    });
  });

  describe('every command set gets an answer or an A-ABORT at once', () => {
    it('aborts 50 associations sending garbage command sets within a second each, and answers what it can', async () => {
      for (let i = 0; i < 50; i++) {
        const peer = await associate();
        const garbage = randomBytes(8 + (i % 40) * 7);
        peer.socket.write(pdata(1, 0x03, garbage));
        const t0 = Date.now();
        const r = await nextResponse(peer, 3000);
        expect(r === 'aborted' || typeof r === 'object', `case ${String(i)}: ${JSON.stringify(r)}`).toBe(true);
        expect(Date.now() - t0).toBeLessThan(1000);
        await end(peer);
      }
      await echoOk();
    });

    it('closes at once when the peer sends A-ABORT (echoscu --abort ends in well under a second)', async () => {
      const t0 = Date.now();
      const r = await run('echoscu', ['--abort', '-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort)]);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(Date.now() - t0).toBeLessThan(1000);
    });
  });

  describe('connections: limits per address, ARTIM, minimum rate', () => {
    it('rejects associations beyond the per-address limit with A-ASSOCIATE-RJ reason 2 while another address still gets in', async () => {
      const held = [
        await associate(undefined, '127.0.0.2'),
        await associate(undefined, '127.0.0.2'),
        await associate(undefined, '127.0.0.2'),
      ];
      const extra = await rawConnect(gw.dimsePort, '127.0.0.1', '127.0.0.2');
      extra.socket.write(associateRq());
      const rj = await extra.nextPdu();
      if (rj === 'closed' || rj === 'timeout') {
        throw new Error(rj);
      }
      expect(rj.type).toBe(0x03);
      expect([...rj.body.subarray(1, 4)]).toEqual([2, 3, 2]);
      await echoOk();
      for (const p of held) {
        await end(p);
      }
    });

    it('keeps accepting other addresses while one address holds 60 idle connections (more than its pending limit)', async () => {
      const idle: RawPeer[] = [];
      for (let i = 0; i < 60; i++) {
        idle.push(await rawConnect(gw.dimsePort, '127.0.0.1', '127.0.0.2'));
      }
      // Well inside ARTIM, while the idle connections are held.
      await echoOk();
      // Beyond dimse.maxPendingPerPeer the address's connections are closed at once, unanswered.
      await waitFor(
        () => idle.filter((p) => p.socket.destroyed || p.socket.readableEnded).length >= 56,
        'excess connections closed',
        1000,
      );
      for (const p of idle) {
        p.socket.destroy();
      }
    });

    it('drops a connection that trickles its A-ASSOCIATE-RQ at the ARTIM timeout', async () => {
      const peer = await rawConnect(gw.dimsePort);
      const rq = associateRq();
      let i = 0;
      const timer = setInterval(() => {
        if (i < rq.length && !peer.socket.destroyed) {
          peer.socket.write(rq.subarray(i, ++i));
        }
      }, 100);
      const t0 = Date.now();
      await peer.closed;
      clearInterval(timer);
      expect(Date.now() - t0).toBeGreaterThan(1200);
      expect(Date.now() - t0).toBeLessThan(3000);
    });

    it('aborts an association trickling a dataset at 1 byte/s after one 10 s window', async () => {
      const peer = await associate();
      peer.socket.write(pdata(1, 0x03, storeRqCommand(1, CT, newUid())));
      const head = pdata(1, 0x02, Buffer.alloc(1000));
      let i = 0;
      const timer = setInterval(() => {
        if (!peer.socket.destroyed) {
          peer.socket.write(head.subarray(i, ++i));
        }
      }, 1000);
      const t0 = Date.now();
      const r = await nextResponse(peer, 25_000);
      clearInterval(timer);
      expect(r).toBe('aborted');
      expect(Date.now() - t0).toBeLessThan(21_000);
      await peer.closed;
      await echoOk();
    });
  });
});
