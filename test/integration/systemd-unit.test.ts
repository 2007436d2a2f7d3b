// The shipped systemd unit: valid for systemd (systemd-analyze verify), hardened, and running the
// launcher that execs the daemon (so systemd's SIGTERM reaches it: test/integration/launcher.test.ts).
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithPeers, run } from '../helpers/peers.ts';

const root = new URL('../../', import.meta.url).pathname.replace(/\/$/, '');
const unitFile = join(root, 'docker/systemd/xnat-gateway.service');
const scratch = mkdtempSync(join(tmpdir(), 'xg-systemd-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

/** `Key=value` lines of the [Service] section (a key may repeat). */
function service(text: string): [string, string][] {
  const body = text.split(/^\[Service\]$/m)[1]?.split(/^\[/m)[0] ?? '';
  return body
    .split('\n')
    .filter((l) => /^[A-Za-z]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]);
}

describeWithPeers(['systemd-analyze'], 'docker/systemd/xnat-gateway.service', () => {
  it('passes systemd-analyze verify (with this checkout in place of /opt/xnat-gateway)', async () => {
    const unit = join(scratch, 'xnat-gateway.service');
    writeFileSync(unit, readFileSync(unitFile, 'utf8').replaceAll('/opt/xnat-gateway', root));
    const r = await run('systemd-analyze', ['verify', unit]);
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}${r.stderr}`.split('\n').filter((l) => l.includes('xnat-gateway'))).toEqual([]);
  });

  it('runs as a dedicated user, restarts on failure only, and writes only to its data directory', () => {
    const s = new Map(service(readFileSync(unitFile, 'utf8')));
    expect(s.get('User')).toBe('xnat-gateway');
    expect(s.get('Restart')).toBe('on-failure');
    // Exit 78 (invalid config) and 2 (usage) are not fixed by restarting.
    expect(s.get('RestartPreventExitStatus')?.split(' ')).toEqual(expect.arrayContaining(['2', '78']));
    expect(s.get('ProtectSystem')).toBe('strict');
    expect(s.get('ReadWritePaths')).toBe('/var/lib/xnat-gateway');
    expect(s.get('NoNewPrivileges')).toBe('true');
    expect(s.get('ExecStart')).toMatch(/^\/opt\/xnat-gateway\/bin\/xnat-gateway run --config /);
    // Longer than workers.shutdownGraceMs (30 s), so a clean stop is not cut short by SIGKILL.
    expect(Number(s.get('TimeoutStopSec'))).toBeGreaterThan(30);
  });
});
