//! The Q/R SCU against two real PACS: Orthanc (Debian package) and DCMTK's dcmqrscp, loaded with generated studies.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createQrClient } from '../../../src/dicom/qr/client.ts';
import { type QrClient, type RetrieveProgress } from '../../../src/dicom/qr/api.ts';
import { QrError } from '../../../src/dicom/qr/failure.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { startDcmqrscp, writeStudies, type DcmqrscpHandle, type GeneratedStudy } from '../../helpers/pacs.ts';
import { describeWithPeers, freePort } from '../../helpers/peers.ts';
import { startTestReceiver, type TestReceiver } from '../../helpers/test-receiver.ts';

const timeouts = {
  connectTimeoutMs: 5000,
  responseTimeoutMs: 10_000,
  retrieveIdleTimeoutMs: 30_000,
  cancelTimeoutMs: 5000,
};

describeWithPeers(['Orthanc', 'dcmqrscp', 'storescu', 'echoscu'], 'Q/R SCU against Orthanc and dcmqrscp', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-qr-client-'));
  let studies: GeneratedStudy[];
  let rx: TestReceiver;
  let slow: TestReceiver;
  let orthanc: OrthancHandle;
  let dq: DcmqrscpHandle;
  const peers: { name: string; client: () => QrClient; ae: () => string }[] = [];

  beforeAll(async () => {
    studies = await writeStudies(join(scratch, 'studies'), [
      { accessionNumber: 'ACC-1', patientId: 'PAT1', series: [3, 2] },
      { accessionNumber: 'ACC-2', patientId: 'PAT2', studyDate: '20240203', series: [4] },
      { accessionNumber: 'ACC-BIG', patientId: 'PAT3', series: [40] },
    ]);
    rx = await startTestReceiver({ aeTitle: 'GATEWAY' });
    slow = await startTestReceiver({ aeTitle: 'SLOWGW', delayMs: 100 });
    const modalities = { gw: ['GATEWAY', '127.0.0.1', rx.port], slow: ['SLOWGW', '127.0.0.1', slow.port] } as const;
    orthanc = await startOrthanc({ modalities });
    for (const f of studies.flatMap((s) => s.files)) {
      await orthanc.upload(f);
    }
    dq = await startDcmqrscp({
      moveDestinations: { GATEWAY: ['127.0.0.1', rx.port], SLOWGW: ['127.0.0.1', slow.port] },
    });
    await dq.load(studies.flatMap((s) => s.files));
    peers.push(
      {
        name: 'Orthanc',
        client: () =>
          createQrClient({
            host: '127.0.0.1',
            port: orthanc.dicomPort,
            calledAe: 'ORTHANC',
            callingAe: 'GATEWAY',
            ...timeouts,
          }),
        ae: () => 'ORTHANC',
      },
      {
        name: 'dcmqrscp',
        client: () =>
          createQrClient({ host: '127.0.0.1', port: dq.port, calledAe: dq.aet, callingAe: 'GATEWAY', ...timeouts }),
        ae: () => dq.aet,
      },
    );
  });
  afterAll(async () => {
    await orthanc.stop();
    await dq.stop();
    await rx.stop();
    await slow.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  const signal = (): AbortSignal => AbortSignal.timeout(60_000);
  const uidOf = (i: number): string => studies[i]?.studyInstanceUid ?? '';

  for (const name of ['Orthanc', 'dcmqrscp']) {
    const peer = (): (typeof peers)[number] => {
      const p = peers.find((x) => x.name === name);
      if (!p) {
        throw new Error(name);
      }
      return p;
    };

    describe(name, () => {
      it('answers C-ECHO', async () => {
        await expect(peer().client().echo(signal())).resolves.toBeUndefined();
      });

      it('finds a study by accession number, its series and its instances', async () => {
        const c = peer().client();
        const study = await c.find(
          'STUDY',
          {
            AccessionNumber: 'ACC-1',
            StudyInstanceUID: '',
            PatientID: '',
            StudyDate: '',
            NumberOfStudyRelatedInstances: '',
          },
          signal(),
        );
        expect(study.matches).toEqual([
          expect.objectContaining({
            AccessionNumber: 'ACC-1',
            PatientID: 'PAT1',
            StudyDate: '20240101',
            StudyInstanceUID: uidOf(0),
          }),
        ]);
        const series = await c.find(
          'SERIES',
          { StudyInstanceUID: uidOf(0), SeriesInstanceUID: '', NumberOfSeriesRelatedInstances: '' },
          signal(),
        );
        expect(series.matches.map((m) => m.SeriesInstanceUID).sort()).toEqual(
          studies[0]?.series.map((s) => s.seriesInstanceUid).sort(),
        );
        if (name === 'Orthanc') {
          expect(series.matches.map((m) => m.NumberOfSeriesRelatedInstances).sort()).toEqual(['2', '3']);
        } else {
          expect(series.matches.every((m) => !m.NumberOfSeriesRelatedInstances)).toBe(true);
        } // dcmqrscp does not count
        const images = await c.find(
          'IMAGE',
          {
            StudyInstanceUID: uidOf(0),
            SeriesInstanceUID: studies[0]?.series[0]?.seriesInstanceUid ?? '',
            SOPInstanceUID: '',
          },
          signal(),
        );
        expect(images.matches).toHaveLength(3);
        const none = await c.find('STUDY', { AccessionNumber: 'NOPE', StudyInstanceUID: '' }, signal());
        expect(none.matches).toEqual([]);
      });

      it('runs several C-FINDs on one association', async () => {
        const n = await peer()
          .client()
          .findSession(signal(), async (s) => {
            const a = await s.find('STUDY', { AccessionNumber: 'ACC-1', StudyInstanceUID: '' });
            const b = await s.find('STUDY', { AccessionNumber: 'ACC-2', StudyInstanceUID: '' });
            return a.matches.length + b.matches.length;
          });
        expect(n).toBe(2);
      });

      it('C-MOVEs a study to our AE with pending and final sub-operation counts', async () => {
        const progress: RetrieveProgress[] = [];
        const r = await peer()
          .client()
          .move(
            'STUDY',
            { StudyInstanceUID: uidOf(1) },
            { destinationAe: 'GATEWAY', signal: signal(), onProgress: (p) => progress.push(p) },
          );
        expect(r).toMatchObject({ status: 0, statusClass: 'success', completed: 4, failed: 0, cancelled: false });
        expect(progress.length).toBeGreaterThanOrEqual(3);
        expect(progress.at(-1)?.completed).toBeGreaterThanOrEqual(3);
        expect([...(rx.studies.get(uidOf(1))?.values() ?? [])].map((s) => s.size)).toEqual([4]);
      });

      it('C-GETs a series, receiving the instances on the same association through the store handler', async () => {
        const seriesUid = studies[0]?.series[1]?.seriesInstanceUid ?? '';
        const got = new Set<string>();
        const r = await peer()
          .client()
          .get(
            'SERIES',
            { StudyInstanceUID: uidOf(0), SeriesInstanceUID: seriesUid },
            {
              signal: signal(),
              store: (meta) => {
                const i = rx.store(meta);
                return {
                  ...i,
                  finish: async () => {
                    got.add(meta.sopInstanceUid);
                    return i.finish();
                  },
                };
              },
            },
          );
        expect(r).toMatchObject({ status: 0, completed: 2, stored: 2, refused: 0 });
        expect(got.size).toBe(2);
      });

      it('answers a refused C-GET sub-operation with a failure status, and the PACS counts it failed', async () => {
        const r = await peer()
          .client()
          .get(
            'STUDY',
            { StudyInstanceUID: uidOf(1) },
            {
              signal: signal(),
              store: () => ({
                write: () => true,
                drained: () => Promise.resolve(),
                abort: () => Promise.resolve(),
                finish: () => Promise.resolve({ ok: false, retryable: true, message: 'disk full' }),
              }),
            },
          );
        expect(r.refused).toBe(4);
        expect(r.failed).toBe(4);
        expect(r.completed).toBe(0);
        // dcmqrscp ends with 0xA702 (every sub-operation failed), Orthanc with 0xB000 (warning).
        expect(r.statusClass).not.toBe('success');
        // Both name every failed instance (Orthanc inside the command set, dcmqrscp in the identifier).
        const sops = [...(rx.studies.get(uidOf(1))?.values() ?? [])].flatMap((x) => [...x]);
        expect([...r.failedSopInstanceUids].sort()).toEqual(sops.sort());
      });

      it('reports a move destination the PACS does not know with its status', async () => {
        const r = await peer()
          .client()
          .move('STUDY', { StudyInstanceUID: uidOf(1) }, { destinationAe: 'NOBODY', signal: signal() });
        expect(r.statusClass).toBe('permanent');
        // dcmqrscp says 0xA801; Orthanc answers 0xC000 for any move it cannot start.
        expect(r.status).toBe(name === 'Orthanc' ? 0xc000 : 0xa801);
      });

      it('cancels a running C-MOVE with C-CANCEL and ends before all instances are sent', async () => {
        const ctrl = new AbortController();
        const started = Date.now();
        const r = await peer()
          .client()
          .move(
            'STUDY',
            { StudyInstanceUID: uidOf(2) },
            {
              destinationAe: 'SLOWGW',
              signal: ctrl.signal,
              onProgress: (p) => {
                if ((p.completed ?? 0) >= 2) {
                  ctrl.abort();
                }
              },
            },
          )
          .catch((err: unknown) => err);
        // Either the PACS honoured C-CANCEL (status 0xFE00) or it kept going and we aborted it: never all 40.
        if (r instanceof QrError) {
          expect(r.kind).toBe('interrupted');
        } else {
          expect(r).toMatchObject({ cancelled: true });
        }
        expect(Date.now() - started).toBeLessThan(20_000);
        const got = [...(slow.studies.get(uidOf(2))?.values() ?? [])].reduce((n, s) => n + s.size, 0);
        expect(got).toBeLessThan(40);
      });
    });
  }

  it('fails to connect to a closed port, and is rejected under a called AE title the PACS checks', async () => {
    const closed = createQrClient({
      host: '127.0.0.1',
      port: await freePort(),
      calledAe: 'X',
      callingAe: 'GATEWAY',
      ...timeouts,
    });
    await expect(closed.echo(signal())).rejects.toMatchObject({ kind: 'connect', message: 'connection refused' });
    const strict = await startOrthanc({ dicomAet: 'STRICT', config: { DicomCheckCalledAet: true } });
    try {
      const wrong = createQrClient({
        host: '127.0.0.1',
        port: strict.dicomPort,
        calledAe: 'WRONG',
        callingAe: 'GATEWAY',
        ...timeouts,
      });
      await expect(wrong.find('STUDY', { AccessionNumber: 'x' }, signal())).rejects.toMatchObject({
        kind: 'rejected',
        reject: { result: 1 },
      });
    } finally {
      await strict.stop();
    }
  });
});
