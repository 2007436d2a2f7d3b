// storescu → gateway → route → folder sink: the quarantine protocol end to end (docs/routing.md).
// Every case checks where the series was filed in the outbox and the reasons /series/:id records.
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, expect, it } from 'vitest';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { pydicomAvailable, runRtLinkedSet } from '../../helpers/deid-oracles.ts';
import { newUid, writeInstance, writeSeries, type Element } from '../../helpers/dicom-factory.ts';
import { outboxSeries } from '../../helpers/outbox.ts';
import { describeWithPeers, run } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const DASHER_DEFAULT =
  '0008,0060 \tModality   ALL,CT,RTSTRUCT, MR, RTDOSE,RTPLAN,PET\n0008,1090   ManufacturersModelName    ALL\n';
const EXCLUDE_AERA = '0008,0060   Modality                ALL\n0008,1090   ManufacturersModelName  Aera\n';
const ALLOW_ALL = '0008,0060 Modality ALL\n0008,1090 ManufacturersModelName ALLOW ALL\n';
const RELOAD_FAILED = 'Routing rules not reloaded; the previous rules stay in force.';
const scratch = mkdtempSync(join(tmpdir(), 'xg-route-e2e-'));
const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface Reason {
  rule: string;
  source: string;
  line?: number;
  instances: number;
  values?: string[];
  message: string;
}
interface RouteView {
  state: 'waiting' | 'routed';
  target: string;
  project: string;
  reasons: Reason[];
  rulesHash: string;
  decidedAt: number;
  routedAt: number | null;
  groupSeriesId: number | null;
}
interface Attempt {
  startedAt: number;
  finishedAt: number | null;
}
interface Timeline {
  id: number;
  seriesUid: string;
  state: string;
  jobs: { state: string; attempts: Attempt[] }[];
  route: RouteView | null;
}
interface Rules {
  hash: string;
  lastError: { problems: string[] } | null;
}
interface Status {
  routing: { rules: Rules; waiting: number; quarantined: number } | null;
}

let dirs = 0;
const freshDir = (label: string): string => join(scratch, `${label}-${String(++dirs)}`);

/** Writes a protocol.txt into its own folder and returns its absolute path. */
function protocolFile(text: string): string {
  const dir = freshDir('protocol');
  mkdirSync(dir);
  writeFileSync(join(dir, 'protocol.txt'), text);
  return join(dir, 'protocol.txt');
}

const siemens = (model: string): Element[] => [
  { tag: 0x00080070, vr: 'LO', value: 'SIEMENS' },
  { tag: 0x00081090, vr: 'LO', value: model },
];

/** An MR series of `count` instances from a Siemens scanner of the given model. */
async function mrSeries(model: string, count = 3): Promise<{ dir: string; seriesUid: string }> {
  const dir = freshDir(`mr-${model}`);
  const seriesUid = newUid();
  await writeSeries(dir, {
    count,
    modality: 'MR',
    sopClassUid: MR_IMAGE_STORAGE,
    seriesInstanceUid: seriesUid,
    extraElements: siemens(model),
  });
  return { dir, seriesUid };
}

let gw: TestDaemon | null = null;
afterEach(async () => {
  await gw?.stop();
  gw = null;
});

async function start(route: Record<string, unknown>): Promise<TestDaemon> {
  gw = await startTestDaemon({
    series: { quietPeriodMs: 300, checkIntervalMs: 50 },
    route: { hospitalProject: 'KCL', ...route },
  });
  return gw;
}

async function send(g: TestDaemon, dir: string): Promise<void> {
  const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(g.dimsePort), dir]);
  expect(r.code, r.stdout + r.stderr).toBe(0);
}

async function get<T>(g: TestDaemon, path: string): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${String(g.httpPort)}${path}`);
  expect(res.status, path).toBe(200);
  return (await res.json()) as T;
}

/** The /series/:id timeline of the (only) batch of `seriesUid`, once it exists. */
async function timeline(g: TestDaemon, seriesUid: string): Promise<Timeline | undefined> {
  const list = await get<{ items: { id: number; seriesUid: string }[] }>(g, '/series?limit=500');
  const id = list.items.find((s) => s.seriesUid === seriesUid)?.id;
  return id === undefined ? undefined : get<Timeline>(g, `/series/${String(id)}`);
}

async function until(
  g: TestDaemon,
  seriesUid: string,
  ok: (t: Timeline) => boolean,
  what: string,
  timeoutMs = 30_000,
): Promise<Timeline> {
  let t: Timeline | undefined;
  await waitFor(
    async () => {
      t = await timeline(g, seriesUid);
      return t !== undefined && ok(t);
    },
    `series ${seriesUid} ${what}`,
    timeoutMs,
  );
  if (!t) {
    throw new Error(`series ${seriesUid} not found`);
  }
  return t;
}

function delivered(g: TestDaemon, seriesUid: string, timeoutMs?: number): Promise<Timeline> {
  return until(g, seriesUid, (t) => t.state === 'delivered', 'delivered', timeoutMs);
}

/** The outbox as [project/subject/session/series folder, instance count], sorted. */
function outbox(g: TestDaemon): [string, number][] {
  const root = join(g.dataDir, 'outbox');
  return existsSync(root)
    ? [...outboxSeries(root)].map(([f, files]): [string, number] => [f, files.length]).sort()
    : [];
}

/** Instances delivered per project (the first path segment). */
function perProject(g: TestDaemon): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [f, n] of outbox(g)) {
    const p = f.split('/')[0] ?? '';
    out[p] = (out[p] ?? 0) + n;
  }
  return out;
}

async function rules(g: TestDaemon): Promise<Rules> {
  const s = await get<Status>(g, '/status');
  if (!s.routing) {
    throw new Error('/status has no routing section');
  }
  return s.routing.rules;
}

describeWithPeers(['storescu'], 'route in the daemon', () => {
  it('DASHER "Import – Quarantine": an Aera MR goes to QUARANTINE by protocol line 2, a Skyra MR to KCL', async () => {
    const g = await start({ protocolFile: protocolFile(EXCLUDE_AERA) });
    const aera = await mrSeries('Aera');
    await send(g, aera.dir);
    const a = await delivered(g, aera.seriesUid);
    expect(a.route).toMatchObject({ state: 'routed', target: 'quarantine', project: 'QUARANTINE' });
    expect(a.route?.reasons).toEqual([
      expect.objectContaining({ rule: 'protocol:model', source: 'protocol', line: 2, instances: 3, values: ['Aera'] }),
    ]);
    expect(perProject(g)).toEqual({ QUARANTINE: 3 });

    const skyra = await mrSeries('Skyra');
    await send(g, skyra.dir);
    const s = await delivered(g, skyra.seriesUid);
    expect(s.route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL' });
    expect(s.route?.reasons.map((r) => r.rule)).toEqual(['default']);
    expect(perProject(g)).toEqual({ QUARANTINE: 3, KCL: 3 });
  });

  it("with DASHER's shipped default protocol an Aera MR goes to KCL", async () => {
    const g = await start({ protocolFile: protocolFile(DASHER_DEFAULT) });
    const aera = await mrSeries('Aera');
    await send(g, aera.dir);
    const a = await delivered(g, aera.seriesUid);
    expect(a.route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL' });
    expect(a.route?.reasons.map((r) => r.rule)).toEqual(['default']);
    expect(perProject(g)).toEqual({ KCL: 3 });
  });

  it('quarantines a US series whose modality is not on the include list (protocol line 1)', async () => {
    const file = protocolFile(
      '0008,0060 Modality CT, MR, RTSTRUCT, RTPLAN, RTDOSE, PET\n0008,1090 ManufacturersModelName ALLOW ALL\n',
    );
    const g = await start({ protocolFile: file, builtin: { burnedIn: { enabled: false } } });
    const dir = freshDir('us');
    const seriesUid = newUid();
    await writeSeries(dir, { count: 2, modality: 'US', sopClassUid: US_IMAGE_STORAGE, seriesInstanceUid: seriesUid });
    await send(g, dir);
    const t = await delivered(g, seriesUid);
    expect(t.route).toMatchObject({ state: 'routed', target: 'quarantine', project: 'QUARANTINE' });
    expect(t.route?.reasons).toEqual([
      expect.objectContaining({ rule: 'protocol:modality', source: 'protocol', line: 1, instances: 2, values: ['US'] }),
    ]);
    expect(perProject(g)).toEqual({ QUARANTINE: 2 });
  });

  it('sends the US series to KCL when the protocol allows every modality and the burned-in set is off', async () => {
    const g = await start({ protocolFile: protocolFile(ALLOW_ALL), builtin: { burnedIn: { enabled: false } } });
    const dir = freshDir('us');
    const seriesUid = newUid();
    await writeSeries(dir, { count: 2, modality: 'US', sopClassUid: US_IMAGE_STORAGE, seriesInstanceUid: seriesUid });
    await send(g, dir);
    const t = await delivered(g, seriesUid);
    expect(t.route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL' });
    expect(t.route?.reasons.map((r) => r.rule)).toEqual(['default']);
    expect(perProject(g)).toEqual({ KCL: 2 });
    expect((await get<Status>(g, '/status')).routing?.quarantined).toBe(0);
  });

  it('quarantines all 100 instances of a CT series when one of them has BurnedInAnnotation YES', async () => {
    const g = await start({});
    const dir = freshDir('burned');
    const shared = { studyInstanceUid: newUid(), seriesInstanceUid: newUid(), frameOfReferenceUid: newUid() };
    await writeSeries(dir, { count: 100, ...shared });
    await writeInstance(join(dir, '0057.dcm'), {
      ...shared,
      instanceNumber: 57,
      extraElements: [{ tag: 0x00280301, vr: 'CS', value: 'YES' }],
    });
    await send(g, dir);
    const t = await delivered(g, shared.seriesInstanceUid, 60_000);
    expect(t.route).toMatchObject({ state: 'routed', target: 'quarantine', project: 'QUARANTINE' });
    expect(t.route?.reasons).toEqual([
      expect.objectContaining({
        rule: 'builtin:burned-in-annotation',
        source: 'builtin',
        instances: 1,
        values: ['YES'],
      }),
    ]);
    expect(outbox(g)).toHaveLength(1);
    expect(perProject(g)).toEqual({ QUARANTINE: 100 });
  });

  it('hot-reloads the protocol: Aera goes to KCL once allowed, and a broken edit keeps the rules in force', async () => {
    const file = protocolFile(EXCLUDE_AERA);
    const g = await start({ protocolFile: file, reloadDebounceMs: 100 });
    const first = await mrSeries('Aera', 2);
    await send(g, first.dir);
    const a = await delivered(g, first.seriesUid);
    expect(a.route).toMatchObject({
      project: 'QUARANTINE',
      reasons: [expect.objectContaining({ rule: 'protocol:model', line: 2 })],
    });
    const hash1 = (await rules(g)).hash;
    expect(a.route?.rulesHash).toBe(hash1);

    writeFileSync(file, ALLOW_ALL);
    await waitFor(async () => (await rules(g)).hash !== hash1, 'rules hash changes after the edit', 15_000);
    const hash2 = (await rules(g)).hash;
    const second = await mrSeries('Aera', 2);
    await send(g, second.dir);
    const b = await delivered(g, second.seriesUid);
    expect(b.route).toMatchObject({ project: 'KCL', target: 'hospital', rulesHash: hash2 });
    expect(b.route?.reasons.map((r) => r.rule)).toEqual(['default']);
    expect(perProject(g)).toEqual({ QUARANTINE: 2, KCL: 2 });

    writeFileSync(file, '0008,0061 Bogus X\n');
    await waitFor(async () => (await rules(g)).lastError !== null, 'the broken edit is reported', 15_000);
    const broken = await rules(g);
    expect(broken.lastError?.problems[0]).toContain('line 1');
    expect(broken.hash).toBe(hash2);
    expect(g.logs()).toContainEqual(expect.objectContaining({ msg: RELOAD_FAILED }));
    const third = await mrSeries('Aera', 2);
    await send(g, third.dir);
    const c = await delivered(g, third.seriesUid);
    expect(c.route).toMatchObject({ project: 'KCL', target: 'hospital', rulesHash: hash2 });
    expect(perProject(g)).toEqual({ QUARANTINE: 2, KCL: 4 });
  });
});

describeWithPeers(
  ['storescu'],
  'route in the daemon: RT objects wait for their images',
  () => {
    const linkedSet = async (): Promise<{ dir: string; ctUid: string; structUid: string; slices: number }> => {
      const dir = freshDir('rt');
      const set = await runRtLinkedSet(dir);
      const uid = (s: string): string => set.files.find((f) => f.series === s)?.seriesUid ?? '';
      return { dir, ctUid: uid('CT'), structUid: uid('RTSTRUCT'), slices: set.slices };
    };

    it('holds an RTSTRUCT until its CT is routed, then files it in the same KCL session after the CT', async () => {
      const g = await start({});
      const set = await linkedSet();
      await send(g, join(set.dir, 'RTSTRUCT'));
      const waiting = await until(g, set.structUid, (t) => t.route?.state === 'waiting', 'waits for its images');
      expect(waiting.route).toMatchObject({ state: 'waiting', groupSeriesId: null, routedAt: null });
      expect(waiting.jobs).toEqual([]);
      expect((await get<Status>(g, '/status')).routing?.waiting).toBe(1);
      expect(outbox(g)).toEqual([]);

      await send(g, join(set.dir, 'CT'));
      const ct = await delivered(g, set.ctUid);
      const rt = await delivered(g, set.structUid);
      expect(ct.route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL', groupSeriesId: null });
      expect(rt.route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL', groupSeriesId: ct.id });
      expect(rt.route?.reasons.map((r) => r.rule)).toContain('rt:images-routed');
      const folders = outbox(g);
      expect(folders.map(([, n]) => n).sort((x, y) => y - x)).toEqual([set.slices, 1]);
      const sessions = new Set(folders.map(([f]) => f.split('/').slice(0, 3).join('/')));
      expect(sessions.size).toBe(1);
      expect([...sessions][0]).toMatch(/^KCL\//);
      // Images first: every CT delivery attempt finished before the RT's first attempt started.
      const ctFinished = Math.max(...ct.jobs.flatMap((j) => j.attempts.map((a) => a.finishedAt ?? Infinity)));
      const rtStarted = Math.min(...rt.jobs.flatMap((j) => j.attempts.map((a) => a.startedAt)));
      expect(ct.jobs.length).toBeGreaterThan(0);
      expect(rt.jobs.length).toBe(ct.jobs.length);
      expect(ctFinished).toBeLessThanOrEqual(rtStarted);
    });

    it('quarantines an RTSTRUCT whose CT never comes once route.rtWaitMs has passed, and keeps it', async () => {
      const g = await start({ rtWaitMs: 1500 });
      const set = await linkedSet();
      await send(g, join(set.dir, 'RTSTRUCT'));
      const rt = await delivered(g, set.structUid);
      expect(rt.route).toMatchObject({
        state: 'routed',
        target: 'quarantine',
        project: 'QUARANTINE',
        groupSeriesId: null,
      });
      expect(rt.route?.reasons).toContainEqual(
        expect.objectContaining({ rule: 'rt:referenced-images-missing', source: 'rt' }),
      );
      expect((rt.route?.routedAt ?? 0) - (rt.route?.decidedAt ?? 0)).toBeGreaterThanOrEqual(1500);
      expect(outbox(g)).toEqual([[expect.stringMatching(/^QUARANTINE\//), 1]]);
      const spooled = g.daemon.db
        .prepare('SELECT path FROM instances WHERE series_id = ?')
        .pluck()
        .all(rt.id) as string[];
      expect(spooled).toHaveLength(1);
      expect(existsSync(join(g.dataDir, 'spool', spooled[0] ?? ''))).toBe(true);
    });
  },
  pydicomMissing,
);
