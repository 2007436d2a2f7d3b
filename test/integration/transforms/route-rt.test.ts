//! The route transform's RT references, checked against pydicom on pydicom's own RT objects and on a
//! synthetic linked CT + RTSTRUCT + RTPLAN + RTDOSE set (rt_linked_set.py), never against our parser.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createLogger } from '../../../src/log.ts';
import type { SeriesSnapshot } from '../../../src/contracts/component.ts';
import { routeConfig } from '../../../src/transforms/route/config.ts';
import { create, type Route } from '../../../src/transforms/route/index.ts';
import { readInstance } from '../../../src/transforms/route/instance-view.ts';
import { PYTHON, pydicomAvailable, runRtLinkedSet, type RtLinkedSetManifest } from '../../helpers/deid-oracles.ts';
import { createFakeClock } from '../../helpers/fake-clock.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { pydicomFile } from '../../helpers/pydicom-files.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

// The oracle, in pydicom: SeriesInstanceUID in items of (RT)ReferencedSeriesSequence, and every
// ReferencedSOPInstanceUID except in items that reference a study, patient, visit or procedure step
// (by sequence, or by a Study/Procedure Step management SOP class), at any depth; not the file's own.
const ORACLE = `
import json, sys, warnings
warnings.simplefilter('ignore')
import pydicom
from pydicom.multival import MultiValue
SERIES_SEQ = {'RTReferencedSeriesSequence', 'ReferencedSeriesSequence'}
NOT_INSTANCE = {'ReferencedStudySequence', 'RTReferencedStudySequence', 'ReferencedPatientSequence',
                'ReferencedVisitSequence', 'ReferencedPerformedProcedureStepSequence'}
def values(v):
    return [str(x) for x in (v if isinstance(v, MultiValue) else [v]) if x]
def walk(ds, parent, series, sops):
    for el in ds:
        if el.VR == 'SQ':
            for item in el.value:
                walk(item, el.keyword, series, sops)
    if parent is None:
        return
    if parent in SERIES_SEQ and 'SeriesInstanceUID' in ds:
        series.update(values(ds.SeriesInstanceUID))
    cls = str(ds.get('ReferencedSOPClassUID', '') or '')
    if 'ReferencedSOPInstanceUID' in ds and parent not in NOT_INSTANCE and not cls.startswith('1.2.840.10008.3.1.2.'):
        sops.update(values(ds.ReferencedSOPInstanceUID))
out = {}
for p in sys.argv[1:]:
    ds = pydicom.dcmread(p, force=True, stop_before_pixels=True)
    series, sops = set(), set()
    walk(ds, None, series, sops)
    series.discard(str(ds.SeriesInstanceUID))
    sops.discard(str(ds.SOPInstanceUID))
    out[p] = {'modality': str(ds.Modality), 'series': sorted(series), 'sops': sorted(sops)}
print(json.dumps(out))
`;

interface OracleRefs {
  readonly modality: string;
  readonly series: string[];
  readonly sops: string[];
}

async function oracle(paths: readonly string[]): Promise<Record<string, OracleRefs>> {
  const r = await run(PYTHON, ['-c', ORACLE, ...paths], { timeoutMs: 120_000 });
  if (r.code !== 0) {
    throw new Error(`pydicom oracle failed: ${r.stderr}`);
  }
  return JSON.parse(r.stdout) as Record<string, OracleRefs>;
}

async function ours(path: string): Promise<OracleRefs | null> {
  const r = await readInstance(path);
  return r.rt
    ? { modality: r.rt.modality, series: [...r.rt.seriesUids].sort(), sops: [...r.rt.sopInstanceUids].sort() }
    : null;
}

const identifying = (tag: number): boolean => tag === 0x00100010 || tag === 0x00100020;
let root: string;
let set: RtLinkedSetManifest;
let route: Route;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-route-rt-'));
  route = create(
    routeConfig.parse({}),
    { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() },
    { identifying },
  );
  if (pydicomMissing.length === 0) {
    set = await runRtLinkedSet(join(root, 'set1'));
    await runRtLinkedSet(join(root, 'set2'), { study: 2 });
  }
}, 300_000);

afterAll(async () => {
  await route.stop();
  await rm(root, { recursive: true, force: true });
});

describeWithPeers(
  [],
  'route: RT references',
  () => {
    it("reads pydicom's RT Structure Set (bare dataset), Plan and Dose as pydicom does", async () => {
      const paths = await Promise.all(
        ['rtstruct.dcm', 'rtplan.dcm', 'rtdose.dcm'].map(async (n) => (await pydicomFile(n)).path),
      );
      const expected = await oracle(paths);
      for (const p of paths) {
        expect(await ours(p)).toEqual(expected[p]);
      }
      // What they are known to hold: the structure set names its CT series; the plan its structure
      // set and a plan it continues; the dose its plan. The study reference is not an instance.
      expect(await ours(paths[0] ?? '')).toEqual({
        modality: 'RTSTRUCT',
        series: ['1.2.826.0.1.3680043.8.498.2010020400001.2.1.1'],
        sops: [],
      });
      expect((await ours(paths[1] ?? ''))?.sops).toEqual([
        '1.2.333.444.55.6.7777.88888',
        '1.9.999.999.99.9.9999.9999.20030903145128',
      ]);
      expect((await ours(paths[2] ?? ''))?.sops).toEqual(['1.2.123.456.78.9.0123.4567.89012345678901']);
    });

    it('reads the linked set as pydicom does, and the references are the set links', async () => {
      const files = set.files.map((f) => ({ ...f, path: join(root, 'set1', f.file) }));
      const rtFiles = files.filter((f) => f.series !== 'CT');
      const expected = await oracle(rtFiles.map((f) => f.path));
      for (const f of rtFiles) {
        expect(await ours(f.path)).toEqual(expected[f.path]);
      }
      for (const f of files.filter((x) => x.series === 'CT')) {
        expect(await ours(f.path)).toBeNull();
      }

      const ct = files.filter((f) => f.series === 'CT');
      const one = (s: string): (typeof files)[number] | undefined => files.find((f) => f.series === s);
      const struct = await ours(one('RTSTRUCT')?.path ?? '');
      expect(struct?.series).toEqual([ct[0]?.seriesUid]);
      expect(struct?.sops).toEqual(ct.map((f) => f.sopInstanceUid).sort());
      expect((await ours(one('RTPLAN')?.path ?? ''))?.sops).toContain(one('RTSTRUCT')?.sopInstanceUid);
      expect((await ours(one('RTDOSE')?.path ?? ''))?.sops).toContain(one('RTPLAN')?.sopInstanceUid);
    });

    it('decide returns the union of references of an RT series', async () => {
      const struct = set.files.find((f) => f.series === 'RTSTRUCT');
      if (!struct) {
        throw new Error('no RTSTRUCT in the set');
      }
      const path = join(root, 'set1', struct.file);
      const snapshot: SeriesSnapshot = {
        seriesId: 1,
        studyInstanceUid: struct.studyUid,
        seriesInstanceUid: struct.seriesUid,
        batch: 1,
        modality: 'RTSTRUCT',
        instances: [
          {
            instanceId: 1,
            sopInstanceUid: struct.sopInstanceUid,
            sopClassUid: struct.sopClassUid,
            transferSyntaxUid: '',
            instanceNumber: 1,
            path,
            size: 0,
          },
        ],
      };
      const d = await route.decide(snapshot, new AbortController().signal);
      const expected = (await oracle([path]))[path];
      expect(d.rt?.modality).toBe('RTSTRUCT');
      expect([...(d.rt?.seriesUids ?? [])].sort()).toEqual(expected?.series);
      expect([...(d.rt?.sopInstanceUids ?? [])].sort()).toEqual(expected?.sops);
    });

    it('explain: the whole set waits for nothing; study 2 alone waits for study 1 images', async () => {
      const whole = await route.explain([join(root, 'set1')], new AbortController().signal);
      expect(whole.series.map((s) => s.modality).sort()).toEqual(['CT', 'RTDOSE', 'RTPLAN', 'RTSTRUCT']);
      expect(whole.skipped.map((s) => s.path)).toEqual([join(root, 'set1', 'manifest.json')]);
      for (const s of whole.series) {
        expect(s.decision.reasons.map((r) => r.rule)).not.toContain('rt:waits-for-images');
      }

      const second = await route.explain([join(root, 'set2')], new AbortController().signal);
      const rt = second.series.find((s) => s.modality === 'RTSTRUCT');
      expect(rt?.decision.reasons.find((r) => r.rule === 'rt:waits-for-images')?.message).toMatch(
        /^Waits up to 24 h for its referenced images \(1 series and \d+ instances not among these files\)/,
      );
      // Given both studies, everything it refers to is there.
      const both = await route.explain([join(root, 'set1'), join(root, 'set2')], new AbortController().signal);
      for (const s of both.series) {
        expect(s.decision.reasons.map((r) => r.rule)).not.toContain('rt:waits-for-images');
      }
    });
  },
  pydicomMissing,
);
