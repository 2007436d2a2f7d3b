//! The curated pydicom files exist with the expected syntaxes and storescu sends each one with its arguments.
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { describeWithPeers, freePort, run, spawnLogged, waitForPort, type LoggedProcess } from '../../helpers/peers.ts';
import { PYDICOM_FILES, pydicomFiles } from '../../helpers/pydicom-files.ts';

// pydicom's test files are a peer like storescu: missing, the block skips locally and fails in CI.
const pydicomMissing = (await pydicomFiles()).length > 0 ? [] : ['python3-pydicom'];

describeWithPeers(
  ['storescu', 'storescp'],
  'pydicom test files',
  () => {
    let dir: string;
    let scp: LoggedProcess | undefined;
    let port: number;

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'xnatgw-pydicom-it-'));
      port = await freePort();
      // +xa accepts compressed syntaxes; +uf keeps the MR_small variants (same SOP Instance UID) apart.
      scp = spawnLogged('storescp', ['+xa', '+uf', '-od', dir, '-aet', 'STORESCP', String(port)]);
      await waitForPort(port);
    });

    afterAll(async () => {
      await scp?.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('finds every curated file with its transfer syntax and UIDs', async () => {
      const files = await pydicomFiles();
      expect(files.map((f) => f.name)).toEqual(PYDICOM_FILES.map((f) => f.name));
      for (const f of files) {
        expect(f.sopInstanceUid).toMatch(/^[0-9.]+$/);
        expect(f.sopClassUid).toMatch(/^1\.2\.840\.10008\.5\.1\.4\.1\.1\./);
      }
    });

    it('sends each curated file with storescu', async () => {
      const files = await pydicomFiles();
      for (const f of files) {
        const res = await run('storescu', [...f.storescuArgs, '-aec', 'STORESCP', '127.0.0.1', String(port), f.path]);
        expect(res.code, `${f.name}: ${res.stdout}${res.stderr}`).toBe(0);
      }
      expect((await readdir(dir)).length).toBe(files.length);
    });
  },
  pydicomMissing,
);
