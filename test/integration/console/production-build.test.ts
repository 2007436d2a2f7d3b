// The console from the production build (tsc → JavaScript, scripts/copy-assets.ts), not from the
// TypeScript sources: its templates, its CSS and script, and htmx from node_modules must all be
// there, or the pages answer 500 in a real installation while every other test passes.
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, run, spawnLogged, waitForPort } from '../../helpers/peers.ts';

const root = new URL('../../../', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'xg-console-build-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describe('console in the production build', () => {
  it('serves every page and asset from dist/ (compiled JavaScript)', async () => {
    const out = join(scratch, 'dist');
    const tsc = await run(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json'), '--outDir', out],
      { cwd: root, timeoutMs: 120_000 },
    );
    expect(tsc.code, tsc.stdout + tsc.stderr).toBe(0);
    const copy = await run(process.execPath, [join(root, 'scripts/copy-assets.ts'), out], { cwd: root });
    expect(copy.code, copy.stderr).toBe(0);
    // The build resolves its packages like an installation does: from node_modules beside it.
    symlinkSync(join(root, 'node_modules'), join(scratch, 'node_modules'));
    const http = await freePort();
    const config = join(scratch, 'gateway.yaml');
    writeFileSync(
      config,
      `dataDir: ${join(scratch, 'data')}\ndimse: { enabled: false }\nfolder: { enabled: false }\nhttp: { port: ${String(http)} }\nlog: { level: warn }\n`,
    );
    const daemon = spawnLogged(process.execPath, [join(out, 'cli/main.js'), 'run', '--config', config], {
      cwd: scratch,
    });
    try {
      await waitForPort(http, '127.0.0.1', 30_000);
      for (const path of [
        '/console',
        '/console/series',
        '/console/quarantine',
        '/console/jobs',
        '/console/import',
        '/console/rules',
        '/console/find',
        '/console/sign-in',
        '/console/assets/console.css',
        '/console/assets/console.js',
        '/console/assets/htmx.min.js',
      ]) {
        const res = await fetch(`http://127.0.0.1:${String(http)}${path}`);
        expect(res.status, `${path}\n${daemon.output()}`).toBe(200);
        expect((await res.text()).length, path).toBeGreaterThan(100);
      }
    } finally {
      expect(await daemon.stop('SIGTERM')).toBe(0);
    }
  });
});
