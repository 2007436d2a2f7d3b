// A production-only install, as the image's runtime stage and a hospital server have it:
// `npm ci --omit=dev` and the compiled dist/, no sources, no devDependencies. `anonymise` and `run`
// must de-identify an implicit-VR instance (the dictionary comes from a run-time dependency), and
// the install itself must print no npm warnings.
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { outboxSeries } from '../helpers/outbox.ts';
import { describeWithPeers, freePort, run, spawnLogged } from '../helpers/peers.ts';
import { pydicomFile, pydicomTestFilesDir } from '../helpers/pydicom-files.ts';
import { routeRules } from '../helpers/route-rules.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = new URL('../../', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'xg-prod-'));
const app = join(scratch, 'app');
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const missing = (await pydicomTestFilesDir()) === undefined ? ['python3-pydicom test files'] : [];

describeWithPeers(
  ['storescu', 'npm'],
  'production-only install (npm ci --omit=dev + dist/)',
  () => {
    let install = { stdout: '', stderr: '' };

    beforeAll(async () => {
      mkdirSync(app);
      const tsc = await run(
        process.execPath,
        [
          join(root, 'node_modules/typescript/bin/tsc'),
          '-p',
          join(root, 'tsconfig.build.json'),
          '--outDir',
          join(app, 'dist'),
        ],
        { cwd: root, timeoutMs: 170_000 },
      );
      expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
      const assets = await run(process.execPath, [join(root, 'scripts/copy-assets.ts'), join(app, 'dist')], {
        cwd: root,
      });
      expect(assets.code, assets.stderr).toBe(0);
      for (const f of ['package.json', 'package-lock.json', 'bin']) {
        cpSync(join(root, f), join(app, f), { recursive: true });
      }
      const ci = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund'], { cwd: app, timeoutMs: 170_000 });
      expect(ci.code, ci.stderr).toBe(0);
      install = ci;
    }, 180_000);

    it('installs without npm warnings and without devDependencies', () => {
      expect(`${install.stdout}${install.stderr}`).not.toMatch(/npm warn/i);
      expect(existsSync(join(app, 'node_modules', 'vitest'))).toBe(false);
      expect(existsSync(join(app, 'node_modules', 'dcmjs'))).toBe(true);
      expect(existsSync(join(app, 'src'))).toBe(false);
    });

    it('anonymise de-identifies an implicit-VR file', async () => {
      const implicit = await pydicomFile('MR_small_implicit.dcm');
      const out = join(scratch, 'anon-out');
      // MR_small_implicit is a secondary capture (ImageType): the burned-in rules refuse it unless asked.
      const env = { XNAT_GATEWAY_DATA_DIR: join(scratch, 'anon-data') };
      const refused = await run(
        join(app, 'bin/xnat-gateway'),
        ['anonymise', implicit.path, join(scratch, 'anon-refused')],
        { cwd: scratch, env },
      );
      expect(refused.code, refused.stdout + refused.stderr).toBe(65);
      expect(refused.stdout + refused.stderr).toContain('builtin:image-type');
      const r = await run(join(app, 'bin/xnat-gateway'), ['anonymise', '--allow-burned-in', implicit.path, out], {
        cwd: scratch,
        env,
      });
      expect(r.code, r.stdout + r.stderr).toBe(0);
      expect(r.stdout).toContain('1 series de-identified and verified, 0 not written.');
      expect(r.stderr).not.toMatch(/Cannot find module|at .*\.js:\d+/);
      const written = [...outboxSeries(out).values()].flat();
      expect(written).toHaveLength(1);
      const check = await run(process.env.PYTHON ?? '/usr/bin/python3', [
        '-c',
        'import sys, pydicom; ds = pydicom.dcmread(sys.argv[1]); print(ds.PatientIdentityRemoved, str(ds.PatientName) != "CompressedSamples^MR1")',
        written[0] ?? '',
      ]);
      expect(check.stdout.trim(), check.stderr).toBe('YES True');
    });

    it('run receives, routes by what the instance is and delivers an implicit-VR instance, reports healthy delivery, and stops on SIGTERM', async () => {
      const implicit = await pydicomFile('MR_small_implicit.dcm');
      const dataDir = join(scratch, 'run-data');
      const [dimse, http] = [await freePort(), await freePort()];
      const daemon = spawnLogged(process.execPath, ['--enable-source-maps', join(app, 'dist/cli/main.js'), 'run'], {
        cwd: app,
        env: {
          XNAT_GATEWAY_DATA_DIR: dataDir,
          XNAT_GATEWAY_DIMSE_PORT: String(dimse),
          XNAT_GATEWAY_HTTP_PORT: String(http),
          XNAT_GATEWAY_SERIES_QUIET_MS: '500',
        },
      });
      try {
        await waitFor(
          async () =>
            fetch(`http://127.0.0.1:${String(http)}/readyz`).then(
              (r) => r.ok,
              () => false,
            ),
          `daemon ready (${daemon.output()})`,
          30_000,
        );
        const s = await run('storescu', [
          '-aec',
          'XNAT',
          '127.0.0.1',
          String(dimse),
          ...implicit.storescuArgs,
          implicit.path,
        ]);
        expect(s.code, s.stdout + s.stderr).toBe(0);
        const outbox = join(dataDir, 'outbox');
        await waitFor(
          () => existsSync(outbox) && [...outboxSeries(outbox).values()].flat().length === 1,
          'delivered',
          30_000,
        );
        // Read (not "unreadable"): quarantined for what it is, a secondary capture (ImageType SECONDARY).
        // (.partial is the folder sink's own temp folder.)
        expect(readdirSync(outbox).filter((n) => !n.startsWith('.'))).toEqual(['QUARANTINE']);
        expect(await routeRules(http)).toEqual([['builtin:image-type']]);
        const health = await fetch(`http://127.0.0.1:${String(http)}/healthz/delivery`);
        expect(health.status).toBe(200);
      } finally {
        expect(await daemon.stop('SIGTERM')).toBe(0);
      }
      // JSON mode (not a terminal): every line is JSON, nothing else was printed.
      const lines = daemon
        .output()
        .split('\n')
        .filter((l) => l.trim() !== '');
      expect(lines.filter((l) => !l.startsWith('{'))).toEqual([]);
      expect(daemon.output()).not.toContain('ERR_JOB_UNEXPECTED');
    });
  },
  missing,
);
