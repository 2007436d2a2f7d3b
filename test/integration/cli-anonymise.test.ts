// `xnat-gateway anonymise` and `pseudonyms export` as an operator runs them: exit codes, summary, ledger.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithPeers } from '../helpers/peers.ts';
import { pydicomFile } from '../helpers/pydicom-files.ts';
import { pydicomAvailable } from '../helpers/deid-oracles.ts';

const GATEWAY = new URL('../../gateway', import.meta.url).pathname;
const MAIN = new URL('../../src/cli/main.ts', import.meta.url).pathname;
const root = mkdtempSync(join(tmpdir(), 'xg-cli-anon-'));
const pydicomMissing = (await pydicomAvailable()) ? [] : ['python3-pydicom'];

afterAll(() => { rmSync(root, { recursive: true, force: true }); });

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(GATEWAY, ['node', MAIN, ...args], { env: { ...process.env, XNAT_GATEWAY_DATA_DIR: join(root, 'data'), ...env }, timeout: 120_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (err as { code?: number }).code ?? 1 : 0, stdout, stderr });
    });
  });
}

describeWithPeers([], 'xnat-gateway anonymise', () => {
  it('de-identifies a folder, skips what is not DICOM, prints a summary and exits 0', async () => {
    const input = join(root, 'in');
    mkdirSync(input);
    copyFileSync((await pydicomFile('CT_small.dcm')).path, join(input, 'ct.dcm'));
    writeFileSync(join(input, 'notes.txt'), 'not dicom');
    const r = await cli(['anonymise', input, join(root, 'out'), '--project', 'KCL']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/Project KCL, profile basic, key [0-9a-f]{16}: 2 files, 1 not DICOM \(skipped\), 1 series\./);
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

  it('exits 66 for a missing input and 2 without an output', async () => {
    expect((await cli(['anonymise', join(root, 'nope'), join(root, 'o')])).code).toBe(66);
    expect((await cli(['anonymise', join(root, 'in')])).code).toBe(2);
  });
}, pydicomMissing);
