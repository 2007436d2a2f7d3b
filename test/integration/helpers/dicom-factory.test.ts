//! The test DICOM factory's output is accepted by dcmdump, dciodvfy (CT IOD) and DCMTK storescu/storescp.
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { TransferSyntax, writeInstance, writeLargeInstance, type InstanceInfo } from '../../helpers/dicom-factory.ts';
import { describeWithPeers, freePort, run, spawnLogged, waitForPort } from '../../helpers/peers.ts';

const syntaxes = Object.entries(TransferSyntax);

describeWithPeers(['dcmdump', 'dciodvfy', 'storescu', 'storescp'], 'dicom-factory output', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'xnatgw-factory-it-'));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function dciodvfyErrors(file: string): Promise<string[]> {
    const res = await run('dciodvfy', [file]);
    return `${res.stdout}\n${res.stderr}`.split('\n').filter((l) => l.startsWith('Error'));
  }

  it.each(syntaxes)('parses with dcmdump and has no dciodvfy errors in %s', async (_name, ts) => {
    const file = join(dir, `${ts}.dcm`);
    await writeInstance(file, { transferSyntax: ts, patientName: 'Müller^Hans', rows: 32, columns: 24 });
    const dump = await run('dcmdump', [file]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stderr).toBe('');
    expect(dump.stdout).toContain('(0010,0010) PN [Müller^Hans]');
    expect(dump.stdout).toContain('(fffe,e0dd)');
    expect(dump.stdout).toMatch(/\(7fe0,0010\) OW .*# 1536, 1 PixelData/);
    expect(await dciodvfyErrors(file)).toEqual([]);
  });

  it('parses a bare dataset (no File Meta) with dcmdump', async () => {
    const file = join(dir, 'bare.dcm');
    await writeInstance(file, { omitFileMeta: true, transferSyntax: TransferSyntax.ImplicitVRLittleEndian });
    const dump = await run('dcmdump', [file]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain('Used TransferSyntax: Little Endian Implicit');
  });

  it('streams a 64 MB instance that dcmdump and dciodvfy accept', async () => {
    const info = await writeLargeInstance(join(dir, 'large.dcm'), { bytes: 64 * 1024 * 1024 });
    const dump = await run('dcmdump', ['-q', '+P', '7fe0,0010', info.path]);
    expect(dump.code, dump.stderr).toBe(0);
    expect(dump.stdout).toContain(`# ${String(info.pixelDataBytes)}, 1 PixelData`);
    expect(await dciodvfyErrors(info.path)).toEqual([]);
  });

  it('sends every syntax with storescu to storescp', async () => {
    const out = join(dir, 'received');
    await mkdir(out);
    const port = await freePort();
    const scp = spawnLogged('storescp', ['+xa', '+uf', '-od', out, '-aet', 'STORESCP', String(port)]);
    try {
      await waitForPort(port);
      const sent: InstanceInfo[] = [];
      for (const [, ts] of syntaxes) {
        const info = await writeInstance(join(dir, `send-${ts}.dcm`), { transferSyntax: ts });
        sent.push(info);
        const res = await run('storescu', ['-R', '-aec', 'STORESCP', '127.0.0.1', String(port), info.path]);
        expect(res.code, `${res.stdout}${res.stderr}`).toBe(0);
      }
      expect((await readdir(out)).length).toBe(sent.length);
    } finally {
      await scp.stop();
    }
  });
});
