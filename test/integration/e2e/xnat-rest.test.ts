// storescu → gateway → xnat-rest → fake XNAT: acceptance scenarios 1, 3, 10, 11, 14 and 15 of
// reference/xnat.md §1.11/§5 (the failure scenarios 16–20 are in xnat-rest-failures.test.ts).
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { newUid, writeSeries } from '../../helpers/dicom-factory.ts';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { pydicomAvailable, runRtLinkedSet } from '../../helpers/deid-oracles.ts';
import { describeWithPeers } from '../../helpers/peers.ts';
import { api, gatewayFor, scratch, settled, stopAfterEach, storescu, type Timeline } from '../../helpers/xnat-e2e.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

const running = stopAfterEach();

let dirs = 0;
async function study(o: {
  count: number;
  patientId: string;
  patientName?: string;
  studyUid?: string;
  seriesUid?: string;
  seriesNumber?: number;
  studyDescription?: string;
}): Promise<{ dir: string; studyUid: string; seriesUid: string }> {
  const dir = join(scratch, `study-${String(++dirs)}`);
  mkdirSync(dir);
  const studyUid = o.studyUid ?? newUid();
  const seriesUid = o.seriesUid ?? newUid();
  await writeSeries(dir, {
    count: o.count,
    studyInstanceUid: studyUid,
    seriesInstanceUid: seriesUid,
    patientId: o.patientId,
    patientName: o.patientName ?? `Doe^${o.patientId}`,
    seriesNumber: o.seriesNumber ?? 2,
    ...(o.studyDescription ? { studyDescription: o.studyDescription } : {}),
  });
  return { dir, studyUid, seriesUid };
}

async function start(overrides: Record<string, unknown> = {}): Promise<{ x: FakeXnat; g: TestDaemon }> {
  const xnat = (running.xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 200 }));
  const gw = (running.gw = await gatewayFor(xnat, { password: 'pw', overrides }));
  return { x: xnat, g: gw };
}

const files = (x: FakeXnat): number[] => x.archive().flatMap((s) => s.scans.map((c) => c.files.length));

describeWithPeers(['storescu'], 'delivery to XNAT by REST import', () => {
  it('1. DICOM push: one session in the hospital project, one scan, every instance, verified', async () => {
    const { x, g } = await start();
    const s = await study({ count: 12, patientId: 'PAT001' });
    await storescu(g, s.dir);
    const [t] = await settled(g, 1);
    expect(t?.state).toBe('delivered');
    const archived = x.archive();
    expect(archived).toHaveLength(1);
    const session = archived[0];
    expect(session?.project).toBe('HOSPITAL');
    expect(session?.subject).toMatch(/^HOSPITAL_\d{6}$/);
    expect(session?.scans.map((c) => [c.id, c.files.length])).toEqual([['2', 12]]);
    expect(t?.jobs[0]).toMatchObject({
      sink: 'xnat-rest',
      state: 'done',
      detail: { xnatStatus: 'ARCHIVED', sent: 12, found: 12 },
    });
    expect(t?.jobs[0]?.receipt).toBe(
      `/data/archive/projects/HOSPITAL/subjects/${session?.subject ?? ''}/experiments/${session?.label ?? ''}`,
    );
    // Nothing was left for XNAT's idle task to file elsewhere.
    expect(x.prearchive()).toEqual([]);
  });

  it('3/19. the same study pushed again after it was archived: still one session, no doubled files, no failure', async () => {
    const { x, g } = await start();
    const s = await study({ count: 6, patientId: 'PAT003' });
    await storescu(g, s.dir);
    await settled(g, 1);
    await storescu(g, s.dir);
    await new Promise((r) => setTimeout(r, 1_000));
    const all = await settled(g, 1);
    expect(all.every((t) => t.state === 'delivered')).toBe(true);
    expect(x.archive()).toHaveLength(1);
    expect(files(x)).toEqual([6]);
    expect(x.prearchive()).toEqual([]);
  });

  it('10. two patients pushed at the same time: two sessions, nothing mixed', async () => {
    const { x, g } = await start();
    const a = await study({ count: 8, patientId: 'PAT010A' });
    const b = await study({ count: 5, patientId: 'PAT010B' });
    await Promise.all([storescu(g, a.dir), storescu(g, b.dir)]);
    await settled(g, 2);
    const archived = x.archive();
    expect(archived).toHaveLength(2);
    // UIDs are de-identified, so the sessions are told apart by what they hold.
    expect(archived.map((s) => s.scans.map((c) => c.files.length)).sort()).toEqual([[5], [8]]);
    expect(new Set(archived.map((s) => s.subject)).size).toBe(2);
    expect(new Set(archived.map((s) => s.studyUid)).size).toBe(2);
    expect([a.studyUid, b.studyUid].some((u) => archived.some((s) => s.studyUid === u))).toBe(false);
  });

  it('11. study A, then B, then the rest of A (gap shorter, then longer than the quiet period): A is one session', async () => {
    const { x, g } = await start();
    const studyUid = newUid();
    const seriesUid = newUid();
    const a1 = await study({ count: 4, patientId: 'PAT011', studyUid, seriesUid });
    const b = await study({ count: 3, patientId: 'PAT011B' });
    const a2 = await study({ count: 4, patientId: 'PAT011', studyUid, seriesUid });
    const a3 = await study({ count: 2, patientId: 'PAT011', studyUid, seriesNumber: 3 });
    await storescu(g, a1.dir);
    await storescu(g, b.dir);
    await storescu(g, a2.dir);
    await settled(g, 2);
    // Well after A was delivered: another series of A arrives.
    await storescu(g, a3.dir);
    await settled(g, 3);
    // Two sessions: B's, and A's holding both of A's series (the late one appended, not split off).
    const sessions = x.archive().map((s) => s.scans.map((c) => [c.id, c.files.length]).sort());
    expect(sessions.sort((p, q) => q.length - p.length)).toEqual([
      [
        ['2', 8],
        ['3', 2],
      ],
      [['2', 3]],
    ]);
  });

  it('14/15. labels come from the gateway, not from headers: another project named in StudyDescription, and unsafe names made XNAT-safe', async () => {
    const { x, g } = await start({ anonymise: { profile: 'none' } });
    const s = await study({
      count: 3,
      patientId: 'ID 14/77',
      patientName: "O'Brien^Mary Ann",
      studyDescription: 'QUARANTINE',
    });
    await storescu(g, s.dir);
    const [t] = await settled(g, 1);
    expect(t?.state).toBe('delivered');
    const [session] = x.archive();
    expect(session?.project).toBe('HOSPITAL');
    for (const label of [session?.subject ?? '', session?.label ?? '']) {
      expect(label).toMatch(/^[A-Za-z0-9_-]+$/);
    }
    expect(session?.subject).toBe('O_Brien_Mary_Ann');
    expect(session?.label).toBe('ID_14_77');
    const status = await api<{ sinks: { sink: string; circuit: { state: string } | null }[] }>(g, '/status');
    expect(status.sinks.find((s) => s.sink === 'xnat-rest')?.circuit?.state).toBe('closed');
  });
});

describeWithPeers(
  ['storescu'],
  'delivery to XNAT by REST import, RT',
  () => {
    it('5. CT + RTSTRUCT + RTPLAN + RTDOSE in one push: one session, each object its own scan', async () => {
      const { x, g } = await start();
      const dir = join(scratch, `rt-${String(++dirs)}`);
      const set = await runRtLinkedSet(dir, { slices: 6 });
      await storescu(g, ...['CT', 'RTSTRUCT', 'RTPLAN', 'RTDOSE'].map((d) => join(dir, d)));
      const all = await settled(g, 4, 40_000);
      expect(all.map((t) => [t.state, t.jobs[0]?.lastError ?? null])).toEqual([
        ['delivered', null],
        ['delivered', null],
        ['delivered', null],
        ['delivered', null],
      ]);
      const archived = x.archive();
      expect(archived).toHaveLength(1);
      const counts = archived[0]?.scans.map((c) => [c.modality, c.files.length]).sort();
      expect(counts).toEqual([
        ['CT', set.slices],
        ['RTDOSE', 1],
        ['RTPLAN', 1],
        ['RTSTRUCT', 1],
      ]);
      expect(new Set(archived[0]?.scans.map((c) => c.seriesUid)).size).toBe(4);
    });
  },
  pydicomMissing,
);

export type { Timeline };
