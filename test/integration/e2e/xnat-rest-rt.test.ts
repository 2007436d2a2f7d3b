// storescu → gateway → xnat-rest → fake XNAT: RT objects filed with their planning CT under the
// scan ids XNAT gives them (reference/xnat.md §2a and §1.11 scenarios 5 and 12; xnat-web's
// DICOMSessionBuilder and ScanIdValidator): an RTSTRUCT sharing its CT's SeriesNumber, one without a
// SeriesNumber, and a later series of the study once the RT object is in. Every series verified
// (found == sent) and nothing left behind in XNAT's prearchive. The set is pydicom's (rt_linked_set.py:
// CT series 1, RTSTRUCT series 2), edited by pydicom (series_edit.py).
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { startFakeXnat, type FakeXnat } from '../../helpers/fake-xnat/index.ts';
import { editSeries, pydicomAvailable, runRtLinkedSet, type SeriesEdit } from '../../helpers/deid-oracles.ts';
import type { TestDaemon } from '../../helpers/daemon.ts';
import { describeWithPeers } from '../../helpers/peers.ts';
import { freshDir, gatewayFor, settled, stopAfterEach, storescu, type Timeline } from '../../helpers/xnat-e2e.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];
const running = stopAfterEach();
const SLICES = 4;

async function start(): Promise<{ x: FakeXnat; g: TestDaemon }> {
  const x = (running.xnat = await startFakeXnat({ users: { admin: 'admin', gw: 'pw' }, idleMs: 200 }));
  const g = (running.gw = await gatewayFor(x, { password: 'pw' }));
  return { x, g };
}

/** The linked set's CT folder and its RTSTRUCT folder, the RTSTRUCT edited as `rt` says. */
async function ctAndStruct(rt: SeriesEdit = {}): Promise<{ ct: string; struct: string }> {
  const dir = freshDir('rt');
  await runRtLinkedSet(dir, { slices: SLICES });
  const struct = join(dir, 'RTSTRUCT-edited');
  await editSeries(join(dir, 'RTSTRUCT'), struct, rt);
  return { ct: join(dir, 'CT'), struct };
}

/** Every series delivered and verified: the job's detail says XNAT holds what was sent. */
function expectVerified(all: readonly Timeline[]): void {
  expect(all.map((t) => [t.state, t.jobs[0]?.lastError ?? null])).toEqual(all.map(() => ['delivered', null]));
  for (const t of all) {
    const d = t.jobs[0]?.detail;
    expect(d?.xnatStatus).toBe('ARCHIVED');
    expect(d?.found).toBe(d?.sent);
  }
}

/** The one archived session's scans as [id, modality, files], in XNAT's order. */
function scans(x: FakeXnat): [string, string | null, number][] {
  const archived = x.archive();
  expect(archived).toHaveLength(1);
  return (archived[0]?.scans ?? []).map((c) => [c.id, c.modality, c.files.length]);
}

describeWithPeers(
  ['storescu'],
  'RT objects delivered by REST import into their CT session',
  () => {
    it('an RTSTRUCT numbered like its CT becomes scan 1-OT1 of the CT session, as XNAT renames it', async () => {
      const { x, g } = await start();
      const { ct, struct } = await ctAndStruct({ seriesNumber: 1 });
      await storescu(g, ct, struct);
      expectVerified(await settled(g, 2, 40_000));
      expect(scans(x)).toEqual([
        ['1', 'CT', SLICES],
        ['1-OT1', 'RTSTRUCT', 1],
      ]);
      // XNAT's refused copy of the RTSTRUCT upload (CONFLICT) was removed once it was a scan.
      expect(x.prearchive()).toEqual([]);
    });

    it('an RTSTRUCT without a SeriesNumber becomes the scan XNAT names after its Series Instance UID', async () => {
      const { x, g } = await start();
      const { ct, struct } = await ctAndStruct({ seriesNumber: null });
      await storescu(g, ct, struct);
      expectVerified(await settled(g, 2, 40_000));
      const rt = x.archive()[0]?.scans.find((c) => c.modality === 'RTSTRUCT');
      // The de-identified UID, every non-word character made '_' (DICOMSessionBuilder).
      expect(rt?.id).toBe(rt?.seriesUid.replace(/\W/g, '_'));
      expect(scans(x)).toEqual([
        ['1', 'CT', SLICES],
        [rt?.id, 'RTSTRUCT', 1],
      ]);
      expect(x.prearchive()).toEqual([]);
    });

    it("a later series of the study, after the RTSTRUCT went in as a scan, is archived and verified (not refused for the RT object's copy)", async () => {
      const { x, g } = await start();
      const { ct, struct } = await ctAndStruct();
      await storescu(g, ct, struct);
      expectVerified(await settled(g, 2, 40_000));
      // Another CT series of the same study and patient, sent once the first two are in XNAT.
      const late = freshDir('late');
      await editSeries(ct, late, { newSeries: true, seriesNumber: 3 });
      await storescu(g, late);
      expectVerified(await settled(g, 3, 40_000));
      expect(scans(x)).toEqual([
        ['1', 'CT', SLICES],
        ['2', 'RTSTRUCT', 1],
        ['3', 'CT', SLICES],
      ]);
      expect(x.prearchive()).toEqual([]);
    });
  },
  pydicomMissing,
);
