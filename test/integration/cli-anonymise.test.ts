// `xnat-gateway anonymise` and `pseudonyms export` as an operator runs them: exit codes, summary, ledger.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithPeers } from '../helpers/peers.ts';
import { pydicomFile, pydicomTestFilesDir } from '../helpers/pydicom-files.ts';
import { pydicomAvailable } from '../helpers/deid-oracles.ts';
import { BURNED_IN_US } from '../helpers/audit-fixtures.ts';
import { encodeInstance, writeSeries } from '../helpers/dicom-factory.ts';

const GATEWAY = new URL('../../gateway', import.meta.url).pathname;
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'xg-cli-anon-'));
const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

function cli(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      GATEWAY,
      ['node', MAIN, ...args],
      { env: { ...process.env, XNAT_GATEWAY_DATA_DIR: join(root, 'data'), ...env }, timeout: 120_000 },
      (err, stdout, stderr) => {
        resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
      },
    );
  });
}

describeWithPeers(
  [],
  'xnat-gateway anonymise',
  () => {
    it('de-identifies a folder, skips what is not DICOM, prints a summary and exits 0', async () => {
      const input = join(root, 'in');
      mkdirSync(input);
      copyFileSync((await pydicomFile('CT_small.dcm')).path, join(input, 'ct.dcm'));
      writeFileSync(join(input, 'notes.txt'), 'not dicom');
      const r = await cli(['anonymise', input, join(root, 'out'), '--project', 'KCL']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(
        /Project KCL, profile basic, key [0-9a-f]{16}: 2 files, 1 not DICOM \(skipped\), 1 series\./,
      );
      expect(r.stdout).toContain('1 series de-identified and verified, 0 not written.');
      expect(statSync(join(root, 'data', 'keys', 'KCL.key')).mode & 0o777).toBe(0o600);
    });

    it('exports the ledger for the data controller, 0600, original → pseudonym', async () => {
      const file = join(root, 'ledger.csv');
      const r = await cli(['pseudonyms', 'export', '--output', file]);
      expect(r.code, r.stderr).toBe(0);
      const csv = readFileSync(file, 'utf8');
      expect(csv.split('\r\n')[0]).toBe('project,kind,issuer,original,label,source,created_at');
      expect(csv).toContain('KCL,subject,,1CT1,KCL_000001,auto,');
      expect(statSync(file).mode & 0o777).toBe(0o600);
    });

    it('exits 65 and writes nothing for a series that cannot be verified', async () => {
      const dir = join(root, 'bad');
      mkdirSync(join(dir, 'in'), { recursive: true });
      copyFileSync((await pydicomFile('CT_small.dcm')).path, join(dir, 'in', 'ct.dcm'));
      writeFileSync(join(dir, 'x.das'), 'version "6.3"\n(0020,000D) := "1.2.3.4.5.6.7.8"\n');
      writeFileSync(join(dir, 'cfg.yaml'), `dataDir: ${join(root, 'data')}\nanonymise:\n  script: x.das\n`);
      const r = await cli(['anonymise', join(dir, 'in'), join(dir, 'out'), '--config', join(dir, 'cfg.yaml')]);
      expect(r.code).toBe(65);
      expect(r.stderr).toMatch(/1 instances failed: De-identification verification failed: .*UID function/);
    });

    it('refuses a series the built-in burned-in rules flag (exit 65, the reason), and de-identifies it with --allow-burned-in', async () => {
      const dir = join(root, 'burned');
      mkdirSync(join(dir, 'in'), { recursive: true });
      writeFileSync(join(dir, 'in', 'us.dcm'), encodeInstance(BURNED_IN_US).bytes);
      const r = await cli(['anonymise', join(dir, 'in'), join(dir, 'out'), '--project', 'KCL']);
      expect(r.code).toBe(65);
      expect(r.stderr).toContain(
        '1 instances refused: The series may carry patient data in its pixels: BurnedInAnnotation is YES: the pixels carry text. (builtin:burned-in-annotation)',
      );
      expect(r.stderr).toContain('--allow-burned-in');
      expect(r.stderr).toContain(join(dir, 'in', 'us.dcm'));
      expect(existsSync(join(dir, 'out', 'KCL'))).toBe(false);
      const allowed = await cli([
        'anonymise',
        join(dir, 'in'),
        join(dir, 'out'),
        '--project',
        'KCL',
        '--allow-burned-in',
      ]);
      expect(allowed.code, allowed.stderr).toBe(0);
      expect(allowed.stdout).toContain('1 series de-identified and verified, 0 not written.');
    });

    it('lists every file it did not process with the reason, and exits 65 when a DICOM file was left out', async () => {
      const dir = join(root, 'odd');
      mkdirSync(join(dir, 'in'), { recursive: true });
      const pydicomDir = (await pydicomTestFilesDir()) ?? '';
      for (const name of ['no_meta.dcm', 'nested_priv_SQ.dcm', 'empty_charset_LEI.dcm']) {
        copyFileSync(join(pydicomDir, name), join(dir, 'in', name));
      }
      writeFileSync(join(dir, 'in', 'notes.txt'), 'not dicom');
      const r = await cli(['anonymise', join(dir, 'in'), join(dir, 'out'), '--project', 'ODD']);
      expect(r.code).toBe(65);
      expect(r.stdout).toMatch(/4 files, 1 not DICOM \(skipped\), 2 DICOM not processed, 1 series\./);
      // no_meta.dcm is CT_small's dataset after a stray byte: read and de-identified.
      expect(r.stdout).toMatch(/1 instances -> .*ODD\//);
      for (const name of ['nested_priv_SQ.dcm', 'empty_charset_LEI.dcm']) {
        expect(r.stderr).toContain(
          `not processed ${join(dir, 'in', name)}: DICOM, but not an instance that can be de-identified: DICOM file without SOP Instance UID`,
        );
      }
      expect(r.stdout).toContain(`skipped ${join(dir, 'in', 'notes.txt')}: not DICOM`);
    });

    it('names a file of a series that cannot be parsed and de-identifies the rest of its series', async () => {
      const dir = join(root, 'cut');
      const paths = await writeSeries(join(dir, 'in'), { count: 4, patientId: 'MRN-CUT', patientName: 'Cut^Carl' });
      const bad = paths[2] ?? '';
      writeFileSync(bad, readFileSync(bad).subarray(0, readFileSync(bad).length - 100));
      const r = await cli(['anonymise', join(dir, 'in'), join(dir, 'out'), '--project', 'CUT']);
      expect(r.code).toBe(65);
      expect(r.stderr).toMatch(
        new RegExp(
          `not processed ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: DICOM, but it cannot be parsed for de-identification \\(Dataset ends inside an element`,
        ),
      );
      expect(r.stdout).toMatch(
        /3 instances -> .*CUT\/.* \(1 file\(s\) of this series could not be parsed and are listed as not processed\)/,
      );
    });

    it('holds a series without PatientID: reason, files, exit 65', async () => {
      const dir = join(root, 'nopid');
      const paths = await writeSeries(join(dir, 'in'), { count: 2, patientId: '' });
      const r = await cli(['anonymise', join(dir, 'in'), join(dir, 'out'), '--project', 'NOPID']);
      expect(r.code).toBe(65);
      expect(r.stderr).toContain('2 instances held: PatientID is missing or empty');
      for (const p of paths) {
        expect(r.stderr).toContain(p);
      }
    });

    it('exits 66 for a missing input and 2 without an output', async () => {
      expect((await cli(['anonymise', join(root, 'nope'), join(root, 'o')])).code).toBe(66);
      expect((await cli(['anonymise', join(root, 'in')])).code).toBe(2);
    });
  },
  pydicomMissing,
);
