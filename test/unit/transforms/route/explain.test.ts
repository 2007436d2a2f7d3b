import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createEvents } from '../../../../src/events.ts';
import { createLogger } from '../../../../src/log.ts';
import type { SeriesSnapshot } from '../../../../src/contracts/component.ts';
import { routeConfig, type RouteConfig } from '../../../../src/transforms/route/config.ts';
import { create, type Route } from '../../../../src/transforms/route/index.ts';
import { createFakeClock } from '../../../helpers/fake-clock.ts';
import { newUid, writeInstance, writeSeries, type Element } from '../../../helpers/dicom-factory.ts';

const RT_STRUCT = '1.2.840.10008.5.1.4.1.1.481.3';
const identifying = (tag: number): boolean => tag === 0x00100010 || tag === 0x00100020;
const ctx = { log: createLogger('silent'), clock: createFakeClock(), events: createEvents() };
const model = (name: string): Element => ({ tag: 0x00081090, vr: 'LO', value: name });

let dir: string;
let cfg: RouteConfig;
let route: Route;
const ctStudy = newUid();
const ctSeries = newUid();
const missingCt = [newUid(), newUid()];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'xnatgw-route-explain-'));
  const protocol = join(dir, 'protocol.txt');
  await writeFile(
    protocol,
    '# test protocol\n0008,0060 Modality CT, MR, RTSTRUCT\n0008,1090 ManufacturersModelName Aera\n',
  );
  cfg = routeConfig.parse({
    protocolFile: protocol,
    hospitalProject: 'HOSP',
    quarantineProject: 'QUAR',
    rtWaitMs: 12 * 3_600_000,
  });
  route = create(cfg, ctx, { identifying });

  const drop = join(dir, 'drop');
  await writeSeries(join(drop, 'ct'), {
    count: 3,
    studyInstanceUid: ctStudy,
    seriesInstanceUid: ctSeries,
    extraElements: [model('SOMATOM')],
  });
  await writeSeries(join(drop, 'mr', 'aera'), { count: 2, modality: 'MR', extraElements: [model('Aera')] });
  await mkdir(join(drop, 'rt'));
  await writeInstance(join(drop, 'rt', 'rs.dcm'), {
    modality: 'RTSTRUCT',
    sopClassUid: RT_STRUCT,
    studyInstanceUid: ctStudy,
    undefinedLengthSequence: false,
    extraElements: [
      {
        tag: 0x30060010,
        vr: 'SQ',
        items: [
          [
            {
              tag: 0x30060012,
              vr: 'SQ',
              items: [
                [
                  {
                    tag: 0x30060014,
                    vr: 'SQ',
                    items: [
                      [
                        { tag: 0x0020000e, vr: 'UI', value: newUid() },
                        {
                          tag: 0x30060016,
                          vr: 'SQ',
                          items: missingCt.map((uid) => [{ tag: 0x00081155, vr: 'UI', value: uid }]),
                        },
                      ],
                    ],
                  },
                ],
              ],
            },
          ],
        ],
      },
    ],
  });
  await writeFile(join(drop, 'README.txt'), 'Scans from the Aera, sent by the radiographer.\n');
  await writeFile(join(drop, '.DS_Store'), 'hidden');
}, 30_000);

afterAll(async () => {
  await route.stop();
  await rm(dir, { recursive: true, force: true });
});

describe('route.explain', () => {
  it('groups a folder into series, decides each, and says an RT object waits for its images', async () => {
    const { series, skipped } = await route.explain([join(dir, 'drop')], new AbortController().signal);
    expect(skipped).toEqual([
      { path: join(dir, 'drop', 'README.txt'), reason: expect.stringContaining('not DICOM') as string },
    ]);
    const byModality = new Map(series.map((s) => [s.modality, s]));
    expect([...byModality.keys()].sort()).toEqual(['CT', 'MR', 'RTSTRUCT']);

    const ct = byModality.get('CT');
    expect(ct).toMatchObject({
      studyInstanceUid: ctStudy,
      seriesInstanceUid: ctSeries,
      instances: 3,
      decision: { target: 'hospital', project: 'HOSP', rt: null },
    });
    expect(ct?.decision.rulesHash).toBe(route.rules().hash);

    const mr = byModality.get('MR');
    expect(mr).toMatchObject({ instances: 2, decision: { target: 'quarantine', project: 'QUAR' } });
    expect(mr?.decision.reasons.map((r) => [r.rule, r.line, r.instances])).toEqual([['protocol:model', 3, 2]]);

    const rt = byModality.get('RTSTRUCT');
    expect(rt?.decision.target).toBe('hospital');
    expect(rt?.decision.rt?.sopInstanceUids).toEqual(missingCt);
    const wait = rt?.decision.reasons.find((r) => r.rule === 'rt:waits-for-images');
    expect(wait).toMatchObject({ source: 'rt', instances: 1 });
    expect(wait?.message).toBe(
      'Waits up to 12 h for its referenced images (1 series and 2 instances not among these files), then goes to quarantine if they do not arrive.',
    );
  });

  it('adds no wait when the referenced images are among the files', async () => {
    const linked = join(dir, 'linked');
    const study = newUid();
    const series = newUid();
    await writeSeries(join(linked, 'ct'), { count: 2, studyInstanceUid: study, seriesInstanceUid: series });
    await writeInstance(join(linked, 'rs.dcm'), {
      modality: 'RTSTRUCT',
      sopClassUid: RT_STRUCT,
      studyInstanceUid: study,
      undefinedLengthSequence: false,
      extraElements: [{ tag: 0x00081115, vr: 'SQ', items: [[{ tag: 0x0020000e, vr: 'UI', value: series }]] }],
    });
    const out = await route.explain([linked], new AbortController().signal);
    const rt = out.series.find((s) => s.modality === 'RTSTRUCT');
    expect(rt?.decision.rt).toMatchObject({ modality: 'RTSTRUCT', seriesUids: [series] });
    expect(rt?.decision.reasons.map((r) => r.rule)).toEqual(['default']);
  });

  it('lists a path that does not exist as skipped', async () => {
    const missing = join(dir, 'nowhere');
    const out = await route.explain([missing], new AbortController().signal);
    expect(out).toEqual({ series: [], skipped: [{ path: missing, reason: 'cannot be read (ENOENT)' }] });
  });
});

describe('route.decide', () => {
  async function snapshot(paths: readonly string[], o: Partial<SeriesSnapshot> = {}): Promise<SeriesSnapshot> {
    const instances = paths.map((path, i) => ({
      instanceId: i + 1,
      sopInstanceUid: `1.2.${String(i)}`,
      sopClassUid: '1.2',
      transferSyntaxUid: '1.2.840.10008.1.2.1',
      instanceNumber: i + 1,
      path,
      size: 0,
    }));
    return Promise.resolve({
      seriesId: 1,
      studyInstanceUid: '1.2',
      seriesInstanceUid: '1.2.3',
      batch: 1,
      modality: 'CT',
      instances,
      ...o,
    });
  }

  it('sends a series to the hospital when every instance passes', async () => {
    const paths = await writeSeries(join(dir, 'decide-ok'), { count: 12, extraElements: [model('SOMATOM')] });
    const d = await route.decide(await snapshot(paths), new AbortController().signal);
    expect(d).toEqual({
      target: 'hospital',
      project: 'HOSP',
      reasons: [expect.objectContaining({ rule: 'default', instances: 12 })],
      rulesHash: route.rules().hash,
      rt: null,
    });
  });

  it('quarantines the whole series for one instance the rules quarantine', async () => {
    const folder = join(dir, 'decide-one');
    const paths = await writeSeries(folder, { count: 5 });
    await writeInstance(paths[4] ?? '', { modality: 'SC', instanceNumber: 5 });
    const d = await route.decide(await snapshot(paths), new AbortController().signal);
    expect(d.target).toBe('quarantine');
    expect(d.project).toBe('QUAR');
    expect(d.reasons.every((r) => r.instances === 1)).toBe(true);
  });

  it('fails closed: an unreadable or missing instance quarantines the series', async () => {
    const paths = await writeSeries(join(dir, 'decide-bad'), { count: 3 });
    const broken = join(dir, 'decide-bad', 'broken.dcm');
    await writeFile(
      broken,
      Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from([2, 0, 0x10, 0, 0x55, 0x49, 4, 0])]),
    );
    const d = await route.decide(
      await snapshot([...paths, broken, join(dir, 'decide-bad', 'gone.dcm')]),
      new AbortController().signal,
    );
    expect(d.target).toBe('quarantine');
    expect(d.reasons).toEqual([
      expect.objectContaining({ rule: 'builtin:unreadable', source: 'builtin', instances: 2 }),
    ]);
  });

  it('throws when the signal aborts', async () => {
    const paths = await writeSeries(join(dir, 'decide-abort'), { count: 2 });
    const ac = new AbortController();
    ac.abort(new Error('stopping'));
    await expect(route.decide(await snapshot(paths), ac.signal)).rejects.toThrow('stopping');
  });
});
