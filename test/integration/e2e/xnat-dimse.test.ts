// storescu → gateway → xnat-dimse → the fake XNAT's DICOM receiver, with sinks chosen per project:
// the hospital project by C-STORE, QUARANTINE by REST import (whose credentials also let the
// C-STORE sink look the session up). XNAT files C-STOREd data by PatientComments.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { pydicomAvailable, runRtLinkedSet } from '../../helpers/deid-oracles.ts';
import { writeSeries } from '../../helpers/dicom-factory.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { describeWithPeers } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';
import {
  freshDir as fresh,
  gatewayFor,
  passwordFile,
  settled,
  stopAfterEach,
  storescu,
  timelines,
} from '../../helpers/xnat-e2e.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

const running = stopAfterEach();

async function start(): Promise<{ x: FakeXnat; g: TestDaemon }> {
  const xnat = (running.xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 300, dicom: true }));
  const protocol = join(fresh('protocol'), 'protocol.txt');
  writeFileSync(protocol, '0008,0060 Modality ALL\n0008,1090 ManufacturersModelName Aera\n');
  const dicom = xnat.dicom;
  if (!dicom) {
    throw new Error('the fake SCP did not start');
  }
  const gw = (running.gw = await gatewayFor(xnat, {
    password: 'pw',
    overrides: {
      route: { hospitalProject: 'HOSPITAL', protocolFile: protocol },
      sinks: [
        {
          type: 'xnat-dimse',
          host: '127.0.0.1',
          port: dicom.port,
          calledAe: dicom.aeTitle,
          projects: ['HOSPITAL'],
          responseTimeoutMs: 5_000,
        },
        {
          type: 'xnat-rest',
          url: xnat.url,
          user: 'gw',
          passwordFile: passwordFile('pw'),
          projects: ['QUARANTINE'],
          requestTimeoutMs: 2_000,
        },
      ],
    },
  }));
  return { x: xnat, g: gw };
}

describeWithPeers(['storescu'], 'delivery to XNAT by C-STORE, sinks per project', () => {
  it("hospital series by C-STORE into XNAT's prearchive under PatientComments; an Aera MR to QUARANTINE by REST", async () => {
    const { x, g } = await start();
    const ct = fresh('ct');
    await writeSeries(ct, { count: 7, patientId: 'PATD1', seriesNumber: 4 });
    const mr = fresh('mr');
    await writeSeries(mr, {
      count: 3,
      patientId: 'PATD2',
      modality: 'MR',
      sopClassUid: '1.2.840.10008.5.1.4.1.1.4',
      extraElements: [{ tag: 0x00081090, vr: 'LO', value: 'Aera' }],
    });
    await storescu(g, ct, mr);
    const all = await settled(g, 2);
    const bySink = new Map(all.flatMap((t) => t.jobs.map((j) => [j.sink, j] as const)));
    expect(bySink.get('xnat-dimse-1')).toMatchObject({
      state: 'done',
      detail: { sent: 7, xnatStatus: 'RECEIVING', found: null, statuses: { '0000': 7 } },
    });
    expect(bySink.get('xnat-dimse-1')?.receipt).toMatch(/^dicom:\/\/XNAT@127\.0\.0\.1:\d+/);
    expect(bySink.get('xnat-rest-2')).toMatchObject({
      state: 'done',
      detail: { xnatStatus: 'ARCHIVED', sent: 3, found: 3 },
    });
    const rows = x.prearchive();
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({ project: 'HOSPITAL', status: 'RECEIVING' });
    expect(rows[0]?.subject).toMatch(/^HOSPITAL_\d{6}$/);
    expect(rows[0]?.scans.map((c) => [c.id, c.files.length])).toEqual([['4', 7]]);
    expect(x.archive().map((s) => s.project)).toEqual(['QUARANTINE']);
    // XNAT builds the session after its idle time; nothing was filed under Unassigned.
    x.flushIdle();
    expect(x.prearchive().map((r) => [r.project, r.status])).toEqual([['HOSPITAL', 'READY']]);
  });

  it("0xA700 is retried on a new association; 0xC000 fails the series with XNAT's comment, data kept", async () => {
    const { x, g } = await start();
    x.injectDicom({ status: 0xa700, comment: 'Disk full', afterInstances: 2 });
    const a = fresh('a700');
    await writeSeries(a, { count: 5, patientId: 'PATD3' });
    await storescu(g, a);
    const [t] = await settled(g, 1);
    expect(t?.jobs[0]).toMatchObject({ state: 'done', detail: { statuses: { '0000': 5 } } });
    expect(x.prearchive()[0]?.scans[0]?.files).toHaveLength(5);

    x.injectDicom({ status: 0xc000, comment: 'object contains no SOP Class UID', times: 10 });
    const c = fresh('c000');
    await writeSeries(c, { count: 2, patientId: 'PATD4' });
    await storescu(g, c);
    const all = await settled(g, 2);
    const failed = all.find((s) => s.state === 'failed');
    expect(failed?.jobs[0]).toMatchObject({ state: 'dead', lastCode: 'ERR_DIMSE_REJECTED' });
    expect(failed?.jobs[0]?.lastError).toContain('object contains no SOP Class UID');
    expect(failed?.jobs[0]?.lastError).toMatch(/C000/i);
  });

  it("a receiver that is down opens the C-STORE sink's circuit; the series stays queued, not dead", async () => {
    const { x, g } = await start();
    const dicom = x.dicom;
    await x.close();
    const d = fresh('down');
    await writeSeries(d, { count: 3, patientId: 'PATD5' });
    await storescu(g, d);
    await waitFor(
      async () => {
        const s = (await (await fetch(`http://127.0.0.1:${String(g.httpPort)}/status`)).json()) as {
          sinks: { sink: string; circuit: { state: string } | null }[];
        };
        return s.sinks.find((k) => k.sink === 'xnat-dimse-1')?.circuit?.state === 'open';
      },
      'the C-STORE sink circuit opens',
      20_000,
    );
    expect(dicom).not.toBeNull();
    const [t] = await timelines(g);
    expect(t?.jobs[0]).toMatchObject({ state: 'queued', lastCode: 'ERR_DIMSE_RETRY' });
    expect(t?.jobs[0]?.lastError).toMatch(/refused/);
    const metrics = await (await fetch(`http://127.0.0.1:${String(g.httpPort)}/metrics`)).text();
    expect(metrics).toContain('xnat_gateway_sink_circuit_open{sink="xnat-dimse-1"} 1');
    expect(metrics).toContain('xnat_gateway_sink_circuit_open{sink="xnat-rest-2"} 0');
  });
});

describeWithPeers(
  ['storescu'],
  'delivery to XNAT by C-STORE, RT',
  () => {
    it('5. CT + RTSTRUCT + RTPLAN + RTDOSE: one prearchive session, each object its own scan', async () => {
      const { x, g } = await start();
      const dir = fresh('rt');
      const set = await runRtLinkedSet(dir, { slices: 6 });
      await storescu(g, ...['CT', 'RTSTRUCT', 'RTPLAN', 'RTDOSE'].map((s) => join(dir, s)));
      const all = await settled(g, 4, 40_000);
      expect(all.every((t) => t.state === 'delivered')).toBe(true);
      x.flushIdle();
      const rows = x.prearchive();
      expect(rows).toHaveLength(1);
      expect(rows[0]?.status).toBe('READY');
      expect(rows[0]?.scans.map((c) => [c.modality, c.files.length]).sort()).toEqual([
        ['CT', set.slices],
        ['RTDOSE', 1],
        ['RTPLAN', 1],
        ['RTSTRUCT', 1],
      ]);
    });
  },
  pydicomMissing,
);
