//! De-identification of a linked CT + RTSTRUCT + RTPLAN + RTDOSE set, checked with pydicom, dciodvfy
//! and byte comparison — never with our own parser. Study 2 (a later day) is de-identified in a
//! separate process and must still reference study 1's de-identified images.
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  dicomRefs,
  dicomStrings,
  parseOk,
  pixelMd5,
  pydicomAvailable,
  runRtLinkedSet,
  type RtLinkedSetManifest,
} from '../../helpers/deid-oracles.ts';
import { describeWithPeers } from '../../helpers/peers.ts';

const exec = promisify(execFile);
const GATEWAY = new URL('../../../gateway', import.meta.url).pathname;
const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

let root: string;
let s1: RtLinkedSetManifest;
let s2: RtLinkedSetManifest;

/** Runs the offline command in its own process, as an operator would. */
async function anonymise(
  input: string,
  output: string,
  dataDir: string,
  extraEnv: Record<string, string> = {},
): Promise<string> {
  const { stdout } = await exec(GATEWAY, ['node', MAIN, 'anonymise', input, output], {
    env: { ...process.env, XNAT_GATEWAY_DATA_DIR: dataDir, XNAT_GATEWAY_HOSPITAL_PROJECT: 'KCL', ...extraEnv },
    timeout: 120_000,
  });
  return stdout;
}

function dcmFiles(dir: string): string[] {
  return (readdirSync(dir, { recursive: true }) as string[])
    .filter((f) => f.endsWith('.dcm') && !f.includes('.work-'))
    .map((f) => join(dir, f))
    .sort();
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'xnatgw-anon-rt-'));
  if (pydicomMissing.length === 0) {
    s1 = await runRtLinkedSet(join(root, 'in1'));
    s2 = await runRtLinkedSet(join(root, 'in2'), { study: 2 });
    await anonymise(join(root, 'in1'), join(root, 'out1'), join(root, 'data'));
    await anonymise(join(root, 'in2'), join(root, 'out2'), join(root, 'data'));
  }
}, 300_000);

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describeWithPeers(
  ['dciodvfy'],
  'anonymise: linked RT set',
  () => {
    it('writes every instance of both studies, and pydicom reads every one fully', async () => {
      const out = [...dcmFiles(join(root, 'out1')), ...dcmFiles(join(root, 'out2'))];
      expect(out).toHaveLength(s1.files.length + s2.files.length);
      const parsed = await parseOk(out);
      expect(parsed.filter((p) => !p.ok)).toEqual([]);
    });

    it('keeps every reference resolvable, across the two studies de-identified on separate runs', async () => {
      const before = await dicomRefs([join(root, 'in1'), join(root, 'in2')]);
      const after = await dicomRefs([join(root, 'out1'), join(root, 'out2')]);
      expect(after.unresolved).toBe(0);
      for (const kind of ['sop', 'series', 'frameOfReference'] as const) {
        expect(after.counts[kind].total).toBe(before.counts[kind].total);
        expect(after.counts[kind].resolved).toBe(before.counts[kind].resolved);
      }
      // The RTSTRUCT quirk: a "Referenced SOP Instance UID" that holds the Study UID still does.
      expect(after.counts.sop.viaStudy).toBe(before.counts.sop.viaStudy);
      expect(before.counts.sop.viaStudy).toBeGreaterThan(0);
    });

    it('leaves none of the planted identifying values anywhere, private tags and file meta included', async () => {
      const out = [...dcmFiles(join(root, 'out1')), ...dcmFiles(join(root, 'out2'))];
      const strings = await dicomStrings(out);
      const phi = new Set([...s1.phi, ...s2.phi]);
      const leaks: string[] = [];
      for (const file of strings) {
        for (const s of file.strings) {
          const values = [s.value, ...(s.components ?? [])];
          for (const p of phi) {
            if (values.some((v) => v.includes(p))) {
              leaks.push(`${s.tag} ${s.path}`);
            }
          }
        }
      }
      expect(leaks).toEqual([]);
    });

    it('labels every instance for XNAT and records the de-identification method', async () => {
      const out = dcmFiles(join(root, 'out1'));
      const strings = await dicomStrings(out);
      for (const file of strings) {
        const get = (tag: string): string | undefined => file.strings.find((s) => s.tag === tag)?.value;
        expect(get('(0012,0062)')).toBe('YES');
        expect(get('(0010,0010)')).toMatch(/^KCL_\d{6}$/);
        expect(get('(0010,4000)')).toBe(
          `Project: KCL Subject: ${get('(0010,0010)') ?? ''} Session: ${get('(0010,0020)') ?? ''}`,
        );
        expect(file.strings.filter((s) => s.tag === '(0012,0063)').map((s) => s.value)).toContain(
          'DICOM PS3.15 2024b basic',
        );
      }
    });

    it('keeps every PixelData byte', async () => {
      const inMd5 = new Set(
        (await pixelMd5(s1.files.map((f) => join(root, 'in1', f.file)))).map((p) => p.pixelData).filter(Boolean),
      );
      const outMd5 = new Set((await pixelMd5(dcmFiles(join(root, 'out1')))).map((p) => p.pixelData).filter(Boolean));
      expect(inMd5.size).toBe(s1.files.filter((f) => f.series === 'CT' || f.series === 'RTDOSE').length);
      expect(outMd5).toEqual(inMd5);
    });

    it('adds no dciodvfy error that the input did not have', async () => {
      const errors = async (f: string): Promise<number> => {
        // dciodvfy exits non-zero when it finds errors; its report is what we count either way.
        const r: { stdout?: string; stderr?: string } = await exec('dciodvfy', [f]).catch(
          (e: unknown) => e as { stdout?: string; stderr?: string },
        );
        return `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n').filter((l) => l.startsWith('Error')).length;
      };
      const input = s1.files.map((f) => join(root, 'in1', f.file));
      const inErrors = (await Promise.all(input.map(errors))).reduce((a, b) => a + b, 0);
      const outErrors = (await Promise.all(dcmFiles(join(root, 'out1')).map(errors))).reduce((a, b) => a + b, 0);
      expect(outErrors).toBeLessThanOrEqual(inErrors);
    });

    it('gives byte-identical output when another process de-identifies the same series again', async () => {
      await anonymise(join(root, 'in1'), join(root, 'again'), join(root, 'data'));
      const a = dcmFiles(join(root, 'out1'));
      const b = dcmFiles(join(root, 'again'));
      expect(b.map((f) => f.slice(join(root, 'again').length))).toEqual(
        a.map((f) => f.slice(join(root, 'out1').length)),
      );
      for (const [i, f] of a.entries()) {
        expect(readFileSync(b[i] ?? '').equals(readFileSync(f))).toBe(true);
      }
    });
  },
  pydicomMissing,
);
