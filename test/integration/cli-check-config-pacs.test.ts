// `xnat-gateway check-config` with PACS configured: each is sent a C-ECHO (DCMTK dcmqrscp as the
// PACS); one that answers passes, one that refuses our AE title is a configuration error (78), one
// that cannot be reached is 69, each named with the reason.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { startDcmqrscp, type DcmqrscpHandle } from '../helpers/pacs.ts';
import { describeWithPeers, freePort, run } from '../helpers/peers.ts';

const root = new URL('../../', import.meta.url).pathname;
const MAIN = join(root, 'src/cli/main.ts');

describeWithPeers(['dcmqrscp'], 'check-config sends each PACS a C-ECHO', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'xg-check-pacs-'));
  let dq: DcmqrscpHandle;
  beforeAll(async () => {
    dq = await startDcmqrscp({ aet: 'DQPACS' });
  });
  afterAll(async () => {
    await dq.stop();
    rmSync(scratch, { recursive: true, force: true });
  });

  async function check(pacs: string): Promise<Awaited<ReturnType<typeof run>>> {
    const file = join(scratch, `${String(Math.random()).slice(2)}.yaml`);
    writeFileSync(file, `dataDir: ${join(scratch, 'data')}\npacs:\n${pacs}\n`);
    return run(process.execPath, [MAIN, 'check-config', '--config', file], { cwd: scratch });
  }

  it('passes when every PACS answers', async () => {
    const r = await check(
      `  - { name: dq, aeTitle: DQPACS, host: 127.0.0.1, port: ${String(dq.port)}, callingAe: GATEWAY }`,
    );
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('every sink answered its healthcheck and every PACS its C-ECHO');
  });

  it('is a configuration error (78) when a PACS refuses our association, and 69 when one cannot be reached', async () => {
    const wrong = await check(
      `  - { name: dq, aeTitle: NOT-DQ, host: 127.0.0.1, port: ${String(dq.port)}, callingAe: GATEWAY }`,
    );
    expect(wrong.code, wrong.stderr).toBe(78);
    expect(wrong.stderr).toMatch(/PACS dq: C-ECHO to NOT-DQ@127\.0\.0\.1:\d+ as GATEWAY failed: .*reject/i);
    const closed = await freePort();
    const down = await check(
      `  - { name: gone, aeTitle: GONE, host: 127.0.0.1, port: ${String(closed)}, connectTimeoutMs: 1000 }`,
    );
    expect(down.code, down.stderr).toBe(69);
    expect(down.stderr).toContain('PACS gone (unreachable): C-ECHO to GONE@127.0.0.1');
  });
});
