//! DicomEdit 6 scripts on real files, through the offline command's engine; effects read with pydicom.
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { anonymiseOffline } from '../../../src/app/anonymise-offline.ts';
import { buildConfig, ConfigError } from '../../../src/config/load.ts';
import { dicomStrings, pydicomAvailable } from '../../helpers/deid-oracles.ts';
import { pydicomFile } from '../../helpers/pydicom-files.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];
let root: string;

// XNAT's default project script (META-INF/xnat/defaults/id.das, with the version line the XNAT wiki
// requires of 6.1+ scripts), plus statements a site adds: a delete, a derived description and a
// keyed re-hash of a UID.
const SCRIPT = `version "6.1"
project != "Unassigned" ? (0008,1030) := project
(0010,0010) := subject
(0010,0020) := session
- (0008,0070)
(0008,103E) := concatenate["S-", session]
(0020,000D) := hashUID[(0020,000D)]
`;

async function run(
  script: string,
  project: string,
): Promise<{ out: string; summary: Awaited<ReturnType<typeof anonymiseOffline>> }> {
  const dir = await mkdtemp(join(root, 'case-'));
  await writeFile(join(dir, 'site.das'), script);
  await mkdir(join(dir, 'in'));
  await copyFile((await pydicomFile('CT_small.dcm')).path, join(dir, 'in', 'ct.dcm'));
  const cfg = buildConfig(
    {
      dataDir: join(dir, 'data'),
      folder: { enabled: false },
      anonymise: { projects: { [project]: { script: 'site.das' } } },
    },
    {},
    dir,
  );
  const summary = await anonymiseOffline(cfg, join(dir, 'in'), join(dir, 'out'), { project });
  return { out: join(dir, 'out'), summary };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-anon-script-'));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeWithPeers(
  [],
  'anonymise: DicomEdit 6 scripts',
  () => {
    it("runs XNAT's default script after the profile, with the documented effect", async () => {
      const { out, summary } = await run(SCRIPT, 'KCL');
      expect(summary.series.map((s) => s.outcome)).toEqual(['done']);
      const files = (await readdir(out, { recursive: true })).filter((f) => f.endsWith('.dcm'));
      const [f] = await dicomStrings([join(out, files[0] ?? '')]);
      const top = new Map((f?.strings ?? []).filter((s) => !s.path.includes('.')).map((s) => [s.tag, s.value]));
      expect(top.get('(0008,1030)')).toBe('KCL');
      expect(top.get('(0010,0010)')).toBe('KCL_000001');
      expect(top.get('(0010,0020)')).toBe('KCL_000001_01');
      expect(top.get('(0008,103E)')).toBe('S-KCL_000001_01');
      expect(top.has('(0008,0070)')).toBe(false);
      expect(top.get('(0020,000D)')).toMatch(/^2\.25\.\d+$/);
      expect((f?.strings ?? []).filter((s) => s.tag === '(0012,0063)').map((s) => s.value)).toContain(
        'DicomEdit 6 script site.das',
      );
    });

    it('holds a series whose script writes a UID the project never produced, and writes nothing', async () => {
      const { out, summary } = await run('version "6.3"\n(0020,000D) := "1.2.3.4.5.6.7.8"\n', 'KCL');
      expect(summary.series.map((s) => s.outcome)).toEqual(['failed']);
      expect(summary.series[0]?.detail).toMatch(/not produced by the project's UID function/);
      expect((await readdir(out, { recursive: true })).filter((f) => f.endsWith('.dcm'))).toEqual([]);
    });

    it('refuses at config load a statement we do not support, naming the key, line and column', async () => {
      const dir = await mkdtemp(join(root, 'bad-'));
      await writeFile(
        join(dir, 'bad.das'),
        'version "6.3"\n(0010,0010) := subject\n(0008,0080) := lookup["inst", (0008,0080)]\n',
      );
      let err: unknown;
      try {
        buildConfig({ dataDir: join(dir, 'data'), anonymise: { projects: { KCL: { script: 'bad.das' } } } }, {}, dir);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      expect((err as Error).message).toMatch(
        /anonymise\.projects\.KCL\.script: .*bad\.das: line 3, column \d+: .*lookup/,
      );
    });
  },
  pydicomMissing,
);
