//! Pulls by accession list against real PACS: Orthanc by C-MOVE (50 rows, every kind of problem), dcmqrscp by
// C-GET (no counts from the PACS), and a PACS answering C-MOVE Success with zero sub-operations.
// The retrieve target is the gateway's own C-STORE SCP over an in-memory intake (test-receiver.ts)
// until the pull is wired into the daemon.
import { mkdtempSync, readFileSync, rmSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseCsv } from '../../../src/csv.ts';
import { systemClock } from '../../../src/clock.ts';
import { createQrClient } from '../../../src/dicom/qr/client.ts';
import { type QrClient } from '../../../src/dicom/qr/api.ts';
import { parsePart10Header } from '../../../src/dicom/part10.ts';
import { ErrorCode } from '../../../src/errors.ts';
import { createLogger } from '../../../src/log.ts';
import { openDb, type Db } from '../../../src/store/sqlite/db.ts';
import { pacsConfig, pullConfig, type PacsConfig } from '../../../src/sources/pull/config.ts';
import { createPullService, type PullService } from '../../../src/sources/pull/engine.ts';
import { createSqlitePullLedger } from '../../../src/store/sqlite/pulls.ts';
import type { PullLedger, PullRow } from '../../../src/contracts/pull-ledger.ts';
import { ACTIVE_STATES } from '../../../src/contracts/pull-row-state.ts';
import { startCountingProxy, type CountingProxy } from '../../helpers/counting-proxy.ts';
import { startOrthanc, type OrthancHandle } from '../../helpers/orthanc.ts';
import {
  startDcmqrscp,
  writeStudies,
  type DcmqrscpHandle,
  type GeneratedStudy,
  type StudySpec,
} from '../../helpers/pacs.ts';
import { describeWithPeers } from '../../helpers/peers.ts';
import { startTestReceiver, type TestReceiver } from '../../helpers/test-receiver.ts';

const PULL = { maxAttempts: 2, backoffBaseMs: 100, backoffMaxMs: 200, arrivalTimeoutMs: 2000, arrivalPollMs: 100 };
const TIMEOUTS = {
  connectTimeoutMs: 5000,
  responseTimeoutMs: 10_000,
  retrieveIdleTimeoutMs: 30_000,
  cancelTimeoutMs: 5000,
};

async function waitUntil(what: string, done: () => Promise<boolean>, timeoutMs = 150_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await done())) {
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

const settled = (rows: readonly PullRow[]): boolean => rows.every((r) => !ACTIVE_STATES.has(r.state));

describeWithPeers(['Orthanc', 'dcmqrscp', 'storescu', 'echoscu'], 'pull by accession list', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-pull-'));
  let db: Db;
  let ledger: PullLedger;
  let rx: TestReceiver;
  let service: PullService | null = null;

  beforeAll(async () => {
    db = openDb(join(scratch, 'gateway.sqlite'));
    ledger = createSqlitePullLedger(db);
    rx = await startTestReceiver({ aeTitle: 'GATEWAY' });
  });
  afterEach(async () => {
    await service?.stop();
    service = null;
  });
  afterAll(async () => {
    await rx.stop();
    db.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  function startService(p: PacsConfig, client?: (p: PacsConfig) => QrClient): PullService {
    service = createPullService({
      ledger,
      clock: systemClock,
      log: createLogger('silent'),
      pacs: [p],
      config: pullConfig.parse(PULL),
      target: { destinationAe: 'GATEWAY', store: rx.store, arrivals: rx.arrivals },
      ...(client ? { client } : {}),
    });
    return service;
  }

  describe('from Orthanc by C-MOVE', () => {
    let orthanc: OrthancHandle;
    let proxy: CountingProxy;
    let studies: GeneratedStudy[];

    beforeAll(async () => {
      const specs: StudySpec[] = [];
      for (let i = 1; i <= 46; i++) {
        specs.push({
          accessionNumber: `ACC${String(i).padStart(3, '0')}`,
          patientId: `PAT${String(i)}`,
          series: i % 3 === 0 ? [2, 1] : [2],
        });
      }
      specs.push(
        { accessionNumber: 'TWICE', patientId: 'PATA', series: [1] },
        { accessionNumber: 'TWICE', patientId: 'PATB', studyDate: '20240301', series: [1] },
      );
      specs.push({ accessionNumber: 'MISSING1', patientId: 'PATM', series: [3, 2] });
      studies = await writeStudies(join(scratch, 'orthanc-studies'), specs);
      // No storage cache: the file removed below must really be gone for Orthanc.
      orthanc = await startOrthanc({
        modalities: { gw: ['GATEWAY', '127.0.0.1', rx.port] },
        config: { MaximumStorageCacheSize: 0 },
      });
      for (const f of studies.flatMap((s) => s.files)) {
        await orthanc.upload(f);
      }
      // One instance of MISSING1 loses its file after Orthanc indexed (and so counts) it.
      const victim = studies.at(-1)?.series[0]?.files[0] ?? '';
      const sop = parsePart10Header(readFileSync(victim))?.sopInstanceUid ?? '';
      const ids = (await (
        await fetch(`${orthanc.restUrl}/tools/find`, {
          method: 'POST',
          body: JSON.stringify({ Level: 'Instance', Query: { SOPInstanceUID: sop } }),
        })
      ).json()) as string[];
      const info = (await (
        await fetch(`${orthanc.restUrl}/instances/${ids[0] ?? ''}/attachments/dicom/info`)
      ).json()) as { Uuid: string };
      unlinkSync(join(orthanc.storageDir, info.Uuid.slice(0, 2), info.Uuid.slice(2, 4), info.Uuid));
      proxy = await startCountingProxy(orthanc.dicomPort);
    });
    afterAll(async () => {
      await proxy.close();
      await orthanc.stop();
    });

    it('ends each of 50 rows in the right state, within the association limit, fetching nothing twice', async () => {
      const accessions = Array.from({ length: 45 }, (_, i) => `ACC${String(i + 1).padStart(3, '0')}`);
      const list = ['AccessionNumber', ...accessions, 'ACC001', 'ACC046 ', 'UNKNOWN', 'TWICE', 'MISSING1'].join('\r\n');
      const s = startService(
        pacsConfig.parse({
          name: 'orthanc',
          aeTitle: 'ORTHANC',
          host: '127.0.0.1',
          port: proxy.port,
          callingAe: 'GATEWAY',
          retrieve: 'move',
          schedule: { windows: [{ maxAssociations: 2, maxStudiesInFlight: 2 }] },
          ...TIMEOUTS,
        }),
      );
      await s.start();
      await s.echo('orthanc', AbortSignal.timeout(10_000));
      const pull = await s.submit(Buffer.from(list), { pacs: 'orthanc', project: 'PRJ', fileName: 'accessions.csv' });
      expect(pull.rowsTotal).toBe(50);
      await waitUntil('every row to settle', async () => settled(await ledger.rows(pull.id)));
      const rows = await ledger.rows(pull.id);
      const byAcc = (a: string, nth = 0): PullRow | undefined => rows.filter((r) => r.key.accessionNumber === a)[nth];
      expect(rows.filter((r) => r.state === 'complete')).toHaveLength(46);
      expect(byAcc('ACC001', 1)).toMatchObject({ state: 'duplicate', duplicateOf: 2 });
      expect(byAcc('ACC046')).toMatchObject({ state: 'complete', notes: ['whitespace removed from AccessionNumber'] });
      expect(byAcc('UNKNOWN')).toMatchObject({ state: 'not-found', reason: 'no study matches this accession number' });
      expect(byAcc('TWICE')?.state).toBe('ambiguous');
      expect(
        byAcc('TWICE')
          ?.candidates?.map((c) => c.studyInstanceUid)
          .sort(),
      ).toEqual(
        studies
          .filter((x) => x.spec.accessionNumber === 'TWICE')
          .map((x) => x.studyInstanceUid)
          .sort(),
      );
      const missing = byAcc('MISSING1');
      expect(missing).toMatchObject({
        state: 'partial',
        expectedInstances: 5,
        receivedInstances: 4,
        attempts: 2,
        lastCode: ErrorCode.PULL_INCOMPLETE,
      });
      // Orthanc gives up the C-MOVE at the lost file (0xC000) after sending the rest; the retry asks for that series only.
      expect(missing?.reason).toBe(
        'C-MOVE answered 0xC000 (unable to process); 4 of 5 instances received (1 series incomplete)',
      );
      expect(
        (await ledger.events(missing?.id ?? 0)).filter((e) => e.kind === 'retrieved').map((e) => e.detail.outcome),
      ).toEqual(['queued', 'partial']);
      // Every complete study arrived whole, each instance exactly once.
      for (const r of rows.filter((x) => x.state === 'complete')) {
        const got = rx.studies.get(r.studyInstanceUid ?? '');
        const n = [...(got?.values() ?? [])].reduce((a, x) => a + x.size, 0);
        expect(n).toBe(r.expectedInstances);
        for (const sops of got?.values() ?? []) {
          for (const sop of sops) {
            expect(rx.timesReceived.get(sop)).toBe(1);
          }
        }
      }
      // The window allows two associations: both were used, never more.
      expect(proxy.maxOpen()).toBe(2);
      // The report: one line per series, totals at the end.
      const report = parseCsv(await s.report(pull.id, { identifiers: true }));
      const total = report.at(-1)?.fields ?? [];
      expect(total.slice(0, 2)).toEqual(['total', '46 of 50 rows complete']);
      expect(report.find((l) => l.fields[3] === 'MISSING1' && l.fields[11] === '2')?.fields.slice(1, 2)).toEqual([
        'partial',
      ]);
    });
  });

  describe('from dcmqrscp', () => {
    let dq: DcmqrscpHandle;
    let studies: GeneratedStudy[];

    beforeAll(async () => {
      studies = await writeStudies(join(scratch, 'dq-studies'), [
        { accessionNumber: 'DQ1', patientId: 'Q1', series: [3, 2] },
        { accessionNumber: 'DQ2', patientId: 'Q2', series: [4] },
        { accessionNumber: 'DQGAP', patientId: 'Q3', series: [2, 2] },
      ]);
      dq = await startDcmqrscp({ moveDestinations: { GATEWAY: ['127.0.0.1', rx.port] } });
      await dq.load(studies.flatMap((s) => s.files));
      const victim = parsePart10Header(readFileSync(studies[2]?.series[1]?.files[0] ?? ''))?.sopInstanceUid;
      for (const f of await dq.stored()) {
        if (parsePart10Header(readFileSync(f))?.sopInstanceUid === victim) {
          unlinkSync(f);
        }
      }
    });
    afterAll(async () => {
      await dq.stop();
    });

    it('pulls by C-GET, counting instances where the PACS gives no counts', async () => {
      const s = startService(
        pacsConfig.parse({
          name: 'dq',
          aeTitle: dq.aet,
          host: '127.0.0.1',
          port: dq.port,
          callingAe: 'GATEWAY',
          retrieve: 'get',
          ...TIMEOUTS,
        }),
      );
      await s.start();
      const pull = await s.submit(Buffer.from('Accession\nDQ1\nDQ2\nDQGAP\nNOPE\n'), { pacs: 'dq' });
      await waitUntil('every row to settle', async () => settled(await ledger.rows(pull.id)));
      const rows = await ledger.rows(pull.id);
      expect(rows.map((r) => [r.key.accessionNumber, r.state, r.expectedInstances, r.receivedInstances])).toEqual([
        ['DQ1', 'complete', 5, 5],
        ['DQ2', 'complete', 4, 4],
        ['DQGAP', 'partial', 4, 3],
        ['NOPE', 'not-found', null, 0],
      ]);
      expect(rows[2]?.retrieve?.failed).toBe(1);
      const series = await ledger.series(rows[2]?.id ?? 0);
      expect(series.map((x) => [x.expected, x.received])).toEqual([
        [2, 2],
        [2, 1],
      ]);
    });

    it('detects a C-MOVE answered Success with zero sub-operations, retries it, then fails the row with the reason', async () => {
      // The PACS finds the study (its index), but its C-MOVE side has lost it: an empty dcmqrscp
      // under the same AE title answers the C-MOVEs, with Success and no sub-operations.
      const empty = await startDcmqrscp({ aet: dq.aet, moveDestinations: { GATEWAY: ['127.0.0.1', rx.port] } });
      try {
        const cfg = pacsConfig.parse({
          name: 'dq',
          aeTitle: dq.aet,
          host: '127.0.0.1',
          port: dq.port,
          callingAe: 'GATEWAY',
          retrieve: 'move',
          ...TIMEOUTS,
        });
        const finder = createQrClient({
          host: '127.0.0.1',
          port: dq.port,
          calledAe: dq.aet,
          callingAe: 'GATEWAY',
          ...TIMEOUTS,
        });
        const mover = createQrClient({
          host: '127.0.0.1',
          port: empty.port,
          calledAe: dq.aet,
          callingAe: 'GATEWAY',
          ...TIMEOUTS,
        });
        let moves = 0;
        const s = startService(cfg, () => ({
          ...finder,
          move: (...a) => {
            moves++;
            return mover.move(...a);
          },
        }));
        await s.start();
        const fresh = await writeStudies(join(scratch, 'dq-zero'), [
          { accessionNumber: 'ZERO', patientId: 'Z', series: [2] },
        ]);
        await dq.load(fresh.flatMap((x) => x.files));
        const pull = await s.submit(Buffer.from('AccessionNumber\nZERO\n'), { pacs: 'dq' });
        await waitUntil('the row to settle', async () => settled(await ledger.rows(pull.id)));
        const [row] = await ledger.rows(pull.id);
        expect(row).toMatchObject({
          state: 'failed',
          attempts: 2,
          lastCode: ErrorCode.PULL_NOTHING_ARRIVED,
          retrieve: { status: 0, completed: 0, failed: 0 },
        });
        expect(row?.reason).toBe(
          'C-MOVE answered 0x0000 (success) with 0 sub-operations and nothing arrived within 2 s; 0 of 2 instances received (1 series incomplete)',
        );
        expect(moves).toBe(2);
        expect((await ledger.getPull(pull.id))?.state).toBe('ended');
      } finally {
        await empty.stop();
      }
    });
  });
});
