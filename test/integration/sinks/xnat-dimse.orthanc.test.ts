//! The xnat-dimse sink → Orthanc checking the called AE title: a series arrives whole under the
// right AE, and the wrong one is refused at association with a reason an operator can read.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { DaemonError, ErrorCode } from '../../../src/errors.ts';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { JobContext, SeriesSnapshot } from '../../../src/contracts/component.ts';
import { xnatDimseSinkConfig } from '../../../src/sinks/xnat-dimse/config.ts';
import { create } from '../../../src/sinks/xnat-dimse/index.ts';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

describeWithPeers(['Orthanc'], 'xnat-dimse sink → Orthanc', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-xnat-dimse-orthanc-'));
  const base = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
  const job: JobContext = { ...base, jobId: 1, attempt: 1, workDir: scratch, signal: new AbortController().signal };
  let orthanc: OrthancHandle;
  let series: SeriesSnapshot;
  const sink = (calledAe: string): ReturnType<typeof create> =>
    create(
      xnatDimseSinkConfig.parse({ type: 'xnat-dimse', host: '127.0.0.1', port: orthanc.dicomPort, calledAe }),
      base,
    );

  beforeAll(async () => {
    orthanc = await startOrthanc({ dicomAet: 'XNAT', config: { DicomCheckCalledAet: true } });
    const seriesUid = newUid();
    const paths = await writeSeries(join(scratch, 'series'), {
      count: 12,
      rows: 64,
      columns: 64,
      seriesInstanceUid: seriesUid,
    });
    series = {
      seriesId: 1,
      studyInstanceUid: newUid(),
      seriesInstanceUid: seriesUid,
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
    await orthanc.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  it('delivers a series whole to the right called AE title', async () => {
    await expect(sink('XNAT').healthcheck(AbortSignal.timeout(10_000))).resolves.toBeUndefined();
    const d = await sink('XNAT').deliver(series, job);
    expect(d, orthanc.log()).toMatchObject({ outcome: 'delivered', detail: { sent: 12, statuses: { '0000': 12 } } });
    const found = (await (
      await fetch(`${orthanc.restUrl}/tools/find`, {
        method: 'POST',
        body: JSON.stringify({ Level: 'Instance', Query: { SeriesInstanceUID: series.seriesInstanceUid } }),
      })
    ).json()) as string[];
    expect(found).toHaveLength(12);
  });

  it('is refused under a wrong called AE title, with the reason in words', async () => {
    const d = await sink('NOT_XNAT').deliver(series, job);
    expect(d).toMatchObject({ outcome: 'rejected', code: ErrorCode.DIMSE_ASSOCIATION });
    expect(d.outcome === 'rejected' ? d.reason : '').toMatch(
      new RegExp(
        `^NOT_XNAT@127\\.0\\.0\\.1:${String(orthanc.dicomPort)}: association rejected permanently .*called AE title not recognised`,
      ),
    );
    const err = await sink('NOT_XNAT')
      .healthcheck(AbortSignal.timeout(10_000))
      .then(
        () => null,
        (e: unknown) => e,
      );
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as DaemonError).code).toBe(ErrorCode.DIMSE_ASSOCIATION);
    expect((err as DaemonError).message).toMatch(
      /^C-ECHO to NOT_XNAT@127\.0\.0\.1:\d+ failed: association rejected .*called AE title not recognised/,
    );
  });
});
