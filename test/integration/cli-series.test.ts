// `xnat-gateway series ls`, `quarantine ls` and `hash-password` as an operator runs them against a
// running daemon's database: filters, a table on a terminal (a real pty from util-linux `script`),
// tab-separated lines in a pipe, JSON lines with --json, usage errors with exit 2.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseHash } from '../../src/status/credentials.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { newUid, writeSeries, type Element } from '../helpers/dicom-factory.ts';
import { describeWithPeers, run } from '../helpers/peers.ts';
import { waitFor } from '../helpers/wait-for.ts';

const root = new URL('../../', import.meta.url).pathname;
const MAIN = join(root, 'src/cli/main.ts');
const scratch = mkdtempSync(join(tmpdir(), 'xg-cli-series-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});
const protocolFile = join(scratch, 'protocol.txt');
writeFileSync(protocolFile, '0008,0060   Modality                  ALL\n0008,1090   ManufacturersModelName    Aera\n');
const model = (name: string): Element => ({ tag: 0x00081090, vr: 'LO', value: name });

type Json = Record<string, unknown>;

describeWithPeers(['storescu', 'script'], 'series ls and quarantine ls', () => {
  let gw: TestDaemon;
  const uids = { ct: newUid(), mr: newUid() };
  const env = (): Record<string, string> => ({
    XNAT_GATEWAY_DATA_DIR: gw.dataDir,
    XNAT_GATEWAY_HOSPITAL_PROJECT: 'KCL',
    XNAT_GATEWAY_PROTOCOL_FILE: protocolFile,
  });
  const cli = (args: string[]): ReturnType<typeof run> =>
    run(process.execPath, [MAIN, ...args], { env: env(), cwd: root });

  beforeAll(async () => {
    gw = await startTestDaemon({
      route: { hospitalProject: 'KCL', protocolFile },
      series: { quietPeriodMs: 300, checkIntervalMs: 50 },
    });
    for (const [name, uid, m, modality] of [
      ['ct', uids.ct, 'Skyra', 'CT'],
      ['mr', uids.mr, 'Aera', 'MR'],
    ] as const) {
      const dir = join(scratch, name);
      await writeSeries(dir, {
        count: 2,
        modality,
        seriesInstanceUid: uid,
        extraElements: [model(m)],
        ...(modality === 'MR' ? { sopClassUid: '1.2.840.10008.5.1.4.1.1.4' } : {}),
      });
      const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(gw.dimsePort), dir]);
      expect(r.code, r.stderr).toBe(0);
    }
    await waitFor(
      async () => {
        const r = await fetch(`http://127.0.0.1:${String(gw.httpPort)}/series?state=delivered`);
        return ((await r.json()) as { total: number }).total === 2;
      },
      'both series delivered',
      30_000,
      100,
    );
  });
  afterAll(async () => {
    await gw.stop();
  });

  it('prints JSON lines with --json, with project, reasons and ISO times', async () => {
    const r = await cli(['series', 'ls', '--json']);
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Json);
    expect(rows.map((x) => [x.seriesUid, x.project])).toEqual([
      [uids.mr, 'QUARANTINE'],
      [uids.ct, 'KCL'],
    ]);
    expect(rows[0]).toMatchObject({
      state: 'delivered',
      reasons: [{ rule: 'protocol:model' }],
      senders: ['STORESCU'],
      firstInstanceAtIso: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) as unknown,
    });
  });

  it('quarantine ls lists only the quarantined series; filters narrow series ls', async () => {
    const q = await cli(['quarantine', 'ls', '--json']);
    expect(
      q.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Json).seriesUid),
    ).toEqual([uids.mr]);
    const ct = await cli(['series', 'ls', '--modality', 'ct', '--sender', 'storescu', '--json']);
    expect(
      ct.stdout
        .trim()
        .split('\n')
        .map((l) => (JSON.parse(l) as Json).seriesUid),
    ).toEqual([uids.ct]);
    const none = await cli(['series', 'ls', '--from', '2000-01-01', '--to', '2000-01-02', '--json']);
    expect(none.stdout).toBe('');
  });

  it('prints tab-separated lines with a header into a pipe, and an aligned table on a terminal', async () => {
    const pipe = await cli(['series', 'ls', '--sort', 'received', '--order', 'asc']);
    const lines = pipe.stdout.trim().split('\n');
    expect(lines[0]).toBe('ID\tRECEIVED\tMODALITY\tINSTANCES\tSTATE\tPROJECT\tREASONS\tSENDERS\tSERIES UID');
    expect(lines[1]?.split('\t')).toEqual([
      expect.any(String),
      expect.any(String),
      'CT',
      '2',
      'delivered',
      'KCL',
      'default',
      'STORESCU',
      uids.ct,
    ]);
    const command = [process.execPath, MAIN, 'quarantine', 'ls'].map((a) => `'${a}'`).join(' ');
    const tty = await run('script', ['-qec', command, '/dev/null'], { env: env(), cwd: root });
    expect(tty.code, tty.stderr).toBe(0);
    const out = tty.stdout.replace(/\r/g, '');
    const [header = '', row = ''] = out.split('\n');
    expect(header).toMatch(/^ID +RECEIVED +MODALITY +INSTANCES +STATE +PROJECT +REASONS +SENDERS +SERIES UID$/);
    // Aligned: each value starts under its column's heading.
    for (const [heading, value] of [
      ['PROJECT', 'QUARANTINE'],
      ['REASONS', 'protocol:model'],
      ['SERIES UID', uids.mr],
      ['STATE', 'delivered'],
    ] as const) {
      expect(row.indexOf(value), heading).toBe(header.indexOf(heading));
    }
    expect(out).toContain('1 of 1 series batches.');
  });

  it('refuses unknown filter values with exit 2, the problem and where the usage is', async () => {
    for (const args of [
      ['series', 'ls', '--route', 'nowhere'],
      ['series', 'ls', '--from', 'yesterday'],
      ['series', 'ls', '--limit', '0'],
      ['series', 'list'],
    ]) {
      const r = await cli(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain("Try 'xnat-gateway series --help'");
    }
  });

  it('hash-password prints a password-file line that verifies, reading the password from stdin', async () => {
    const r = await run(
      'sh',
      ['-c', `printf 'correct horse battery\\n' | '${process.execPath}' '${MAIN}' hash-password alice`],
      { cwd: root },
    );
    expect(r.code, r.stderr).toBe(0);
    const [name, hash] = r.stdout.trim().split(/:(.*)/s);
    expect(name).toBe('alice');
    expect(parseHash(hash ?? '')).toMatchObject({ N: 32768, r: 8, p: 1 });
    const short = await run('sh', ['-c', `printf 'short\\n' | '${process.execPath}' '${MAIN}' hash-password alice`], {
      cwd: root,
    });
    expect(short.code).toBe(2);
    expect(short.stderr).toContain('at least 12 characters');
  });
});
