//! dciodvfy (dicom3tools) over every file pydicom ships and every audit fixture: de-identification
//! adds no error that the input did not have. And the engine is repeatable: a second run of the
//! same inputs with the same key and ledger writes the same bytes.
import { execFile } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { anonymiseOffline } from '../../../src/app/anonymise-offline.ts';
import { buildConfig } from '../../../src/config/load.ts';
import type { Config } from '../../../src/config/schema.ts';
import { AUDIT_FIXTURES } from '../../helpers/audit-fixtures.ts';
import { deidFixtures, deidFixturesMissing, fixtureFile, keyedCopy } from '../../helpers/deid-fixtures.ts';
import { encodeInstance } from '../../helpers/dicom-factory.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

const exec = promisify(execFile);
const DATA = '/usr/lib/python3/dist-packages/pydicom/data';

interface Case {
  readonly name: string;
  readonly input: string;
  readonly out: string;
  readonly project: string;
}

let root: string;
let cfg: Config;
const cases: Case[] = [];

async function allFiles(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }))
    .map((f) => join(dir, f))
    .filter((f) => statSync(f).isFile())
    .sort();
}

/**
 * dciodvfy's errors, made comparable between input and output: values (in <>) and numbers and
 * UIDs are replaced, since de-identification changes them without changing what is wrong.
 */
async function errors(file: string): Promise<string[]> {
  // dciodvfy exits non-zero when it finds errors; its report is what we read either way.
  const r: { stdout?: string; stderr?: string } = await exec('dciodvfy', [file], { maxBuffer: 1 << 26 }).catch(
    (e: unknown) => e as { stdout?: string; stderr?: string },
  );
  return `${r.stdout ?? ''}${r.stderr ?? ''}`
    .split('\n')
    .filter((l) => l.startsWith('Error'))
    .map((l) => l.replace(/<[^>]*>/g, '<>').replace(/\b\d+(\.\d+)*\b/g, 'N'));
}

async function limited<T>(items: readonly T[], n: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < items.length) {
        await fn(items[next++] as T);
      }
    }),
  );
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-dciodvfy-'));
  cfg = buildConfig({ dataDir: join(root, 'data'), folder: { enabled: false } }, {}, root);
  if (deidFixturesMissing().length) {
    return;
  }
  const sources = [
    ...(await allFiles(join(DATA, 'test_files'))).map((p) => ({
      name: `pydicom/${p.slice(DATA.length + 12)}`,
      path: p,
    })),
    ...(await allFiles(join(DATA, 'charset_files'))).map((p) => ({ name: `pydicom/${basename(p)}`, path: p })),
    ...(await Promise.all(
      deidFixtures()
        .filter((f) => !f.group.startsWith('pydicom'))
        .map(async (f) => ({ name: f.name, path: await fixtureFile(f, join(root, 'gz')) })),
    )),
  ];
  await mkdir(join(root, 'audit'), { recursive: true });
  for (const [name, fixture] of AUDIT_FIXTURES) {
    const path = join(root, 'audit', `${name}.dcm`);
    await writeFile(path, encodeInstance(fixture).bytes);
    sources.push({ name: `audit/${name}`, path });
  }
  for (const [i, s] of sources.entries()) {
    const input = join(root, 'in', String(i));
    await mkdir(input, { recursive: true });
    const dest = join(input, basename(s.path));
    // Files without a PatientID or StudyInstanceUID get one: the gateway holds them otherwise.
    if ((await keyedCopy(s.path, dest, i)) === null) {
      await copyFile(s.path, dest);
    }
    cases.push({ name: s.name, input: dest, out: join(root, 'out', String(i)), project: `V${String(i)}` });
  }
}, 120_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeWithPeers(
  ['dciodvfy'],
  'anonymise: dciodvfy before and after',
  () => {
    it('adds no dciodvfy error to any file pydicom ships, any Debian fixture or any audit fixture', async () => {
      const added: string[] = [];
      let compared = 0;
      let fromPydicom = 0;
      await limited(cases, 2, async (c) => {
        await anonymiseOffline(cfg, join(c.input, '..'), c.out, { project: c.project, allowBurnedIn: true });
        const outputs = (await readdir(c.out, { recursive: true }))
          .filter((f) => f.endsWith('.dcm'))
          .map((f) => join(c.out, f));
        if (outputs.length === 0) {
          return;
        }
        const before = new Set(await errors(c.input));
        if (c.name.startsWith('pydicom/')) {
          fromPydicom++;
        }
        for (const o of outputs) {
          compared++;
          for (const e of await errors(o)) {
            if (!before.has(e)) {
              added.push(`${c.name}: ${e}`);
            }
          }
        }
      });
      expect(added).toEqual([]);
      // pydicom ships 165 test files and 17 character-set files; all but its DICOMDIRs, its README
      // and 6 broken or unusable files (truncated, no SOP Instance UID, implicit VR under a JPEG
      // syntax) are instances. The audit fixtures are 13 more.
      expect(fromPydicom).toBeGreaterThanOrEqual(160);
      expect(compared).toBeGreaterThanOrEqual(fromPydicom + 13);
    }, 600_000);

    it('writes byte-identical output when the same inputs are de-identified again', async () => {
      const sample = cases.filter((_, i) => i % 5 === 0);
      for (const c of sample) {
        const again = `${c.out}-again`;
        await anonymiseOffline(cfg, join(c.input, '..'), again, { project: c.project, allowBurnedIn: true });
        const a = (await readdir(c.out, { recursive: true })).filter((f) => f.endsWith('.dcm')).sort();
        const b = (await readdir(again, { recursive: true })).filter((f) => f.endsWith('.dcm')).sort();
        expect(b, c.name).toEqual(a);
        for (const f of a) {
          expect(readFileSync(join(again, f)).equals(readFileSync(join(c.out, f))), `${c.name} ${f}`).toBe(true);
        }
      }
    }, 300_000);
  },
  deidFixturesMissing(),
);
