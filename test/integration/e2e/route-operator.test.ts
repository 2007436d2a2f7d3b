// The quarantine protocol's operator tools end to end: `explain` (CLI and POST /explain, which send
// nothing) and release out of quarantine (POST /series/:id/release with a bearer token, and the CLI
// against a running daemon's database). Real peers: DCMTK storescu sends, curl speaks HTTP, the CLI
// runs as a child process through the ./gateway launcher.
import {
  chmodSync,
  createWriteStream,
  existsSync,
  mkdtempSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yazl from 'yazl';
import { afterAll, afterEach, expect, it } from 'vitest';
import { buildConfig, ConfigError } from '../../../src/config/load.ts';
import { startTestDaemon, type TestDaemon } from '../../helpers/daemon.ts';
import { newUid, writeSeries, type Element } from '../../helpers/dicom-factory.ts';
import { outboxSeries } from '../../helpers/outbox.ts';
import { describeWithPeers, freePort, run, which } from '../../helpers/peers.ts';
import { waitFor } from '../../helpers/wait-for.ts';

const GATEWAY = new URL('../../../gateway', import.meta.url).pathname;
const MAIN = new URL('../../../src/cli/main.ts', import.meta.url).pathname;
const MR_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.4';
const US_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.6.1';
const scratch = mkdtempSync(join(tmpdir(), 'xg-route-op-'));
const protocolFile = join(scratch, 'protocol.txt');
writeFileSync(protocolFile, '0008,0060   Modality                  ALL\n0008,1090   ManufacturersModelName    Aera\n');
const tokenFile = join(scratch, 'tokens');
writeFileSync(tokenFile, 'alice:s3cret-token\n');
chmodSync(tokenFile, 0o600);

afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

const model = (name: string): Element => ({ tag: 0x00081090, vr: 'LO', value: name });
const fast = { series: { quietPeriodMs: 300, checkIntervalMs: 50 } };
const cliEnv = (dataDir: string): Record<string, string> => ({
  XNAT_GATEWAY_DATA_DIR: dataDir,
  XNAT_GATEWAY_HOSPITAL_PROJECT: 'KCL',
  XNAT_GATEWAY_PROTOCOL_FILE: protocolFile,
});
const cli = (dataDir: string, args: string[], env: Record<string, string> = {}): ReturnType<typeof run> =>
  run(GATEWAY, ['node', MAIN, ...args], { env: { ...cliEnv(dataDir), ...env } });

/** A folder as a modality would export it: CT (3), Aera MR (2), US (1) and a note that is not DICOM. */
async function studyFolder(dir: string): Promise<{ ct: string; mr: string; us: string }> {
  const uids = { ct: newUid(), mr: newUid(), us: newUid() };
  const study = { studyInstanceUid: newUid(), patientName: 'Smith^Anna', patientId: 'MRN777' };
  await writeSeries(join(dir, 'ct'), {
    ...study,
    count: 3,
    seriesInstanceUid: uids.ct,
    extraElements: [model('Skyra')],
  });
  await writeSeries(join(dir, 'mr'), {
    ...study,
    count: 2,
    modality: 'MR',
    sopClassUid: MR_IMAGE_STORAGE,
    seriesInstanceUid: uids.mr,
    extraElements: [model('Aera')],
  });
  await writeSeries(join(dir, 'us'), {
    ...study,
    count: 1,
    modality: 'US',
    sopClassUid: US_IMAGE_STORAGE,
    seriesInstanceUid: uids.us,
  });
  writeFileSync(join(dir, 'notes.txt'), 'Scanned on Tuesday; see the paper form.\n'.repeat(8));
  return uids;
}

/** Zips `dir` (entries relative to it) with the system zip, or with yazl when zip is not installed. */
async function zipFolder(dir: string, file: string): Promise<void> {
  if (which('zip')) {
    const r = await run('zip', ['-q', '-r', file, '.'], { cwd: dir });
    expect(r.code, r.stderr).toBe(0);
    return;
  }
  const z = new yazl.ZipFile();
  for (const f of readdirSync(dir, { recursive: true }) as string[]) {
    if (statSync(join(dir, f)).isFile()) {
      z.addFile(join(dir, f), f);
    }
  }
  z.end();
  await new Promise<void>((resolve, reject) => {
    z.outputStream
      .pipe(createWriteStream(file))
      .on('close', () => {
        resolve();
      })
      .on('error', reject);
  });
}

interface Reply {
  status: number;
  headers: string;
  json: Record<string, unknown>;
}
type Json = Record<string, unknown>;

/** One request with curl; `-i` puts the status line and headers before the body. */
async function http(g: TestDaemon, method: string, path: string, extra: string[] = []): Promise<Reply> {
  const r = await run('curl', [
    '-sS',
    '-i',
    '-H',
    'Expect:',
    '-X',
    method,
    ...extra,
    `http://127.0.0.1:${String(g.httpPort)}${path}`,
  ]);
  expect(r.code, r.stderr).toBe(0);
  const cut = r.stdout.indexOf('\r\n\r\n');
  const head = r.stdout.slice(0, cut);
  const body = r.stdout.slice(cut + 4);
  return {
    status: Number(/^HTTP\/\S+ (\d{3})/.exec(head)?.[1]),
    headers: head.toLowerCase(),
    json: (body ? JSON.parse(body) : {}) as Json,
  };
}

const outbox = (g: TestDaemon): string => join(g.dataDir, 'outbox');
const delivered = (g: TestDaemon): string[] =>
  existsSync(outbox(g)) ? [...outboxSeries(outbox(g)).keys()].sort() : [];
const rules = (reasons: unknown): string[] => (reasons as { rule: string }[]).map((r) => r.rule);

describeWithPeers(['storescu', 'curl'], 'quarantine protocol operator tools', () => {
  let gw: TestDaemon | null = null;
  afterEach(async () => {
    await gw?.stop();
    gw = null;
  });
  const start = async (overrides: Record<string, unknown>): Promise<TestDaemon> => {
    gw = await startTestDaemon({ ...fast, ...overrides });
    return gw;
  };
  const adminDaemon = (): Promise<TestDaemon> =>
    start({ route: { hospitalProject: 'KCL', protocolFile }, http: { adminTokenFile: tokenFile } });

  /** Sends a 2-instance Aera MR with storescu and waits until its quarantine copy is delivered. */
  const quarantine = async (g: TestDaemon, name: string): Promise<{ id: number; uid: string }> => {
    const uid = newUid();
    const dir = join(scratch, name);
    await writeSeries(dir, {
      count: 2,
      modality: 'MR',
      sopClassUid: MR_IMAGE_STORAGE,
      seriesInstanceUid: uid,
      extraElements: [model('Aera')],
    });
    const r = await run('storescu', ['+sd', '-aec', 'XNAT', '127.0.0.1', String(g.dimsePort), dir]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    let id = 0;
    await waitFor(
      async () => {
        const [s] = (await http(g, 'GET', '/series')).json.items as Json[];
        id = Number(s?.id);
        return s?.state === 'delivered';
      },
      'quarantined series delivered',
      30_000,
      100,
    );
    const folders = delivered(g);
    expect(folders).toHaveLength(1);
    expect(folders[0]).toMatch(/^QUARANTINE\/QUARANTINE_\d{6}\/QUARANTINE_\d{6}_01\/2\.25\.\d+$/);
    expect(outboxSeries(outbox(g)).get(folders[0] ?? '')).toHaveLength(2);
    const route = (await http(g, 'GET', `/series/${String(id)}`)).json.route as Json;
    expect(route).toMatchObject({ target: 'quarantine', project: 'QUARANTINE', releasedBy: null });
    expect(rules(route.reasons)).toEqual(['protocol:model']);
    return { id, uid };
  };
  /** Waits for the hospital copy, then checks both copies and the release recorded on /series/:id. */
  const expectReleased = async (g: TestDaemon, id: number, by: string): Promise<Json> => {
    // The sink renames file by file, so wait for both instances, not for the folder.
    const kcl = (): string[] =>
      [...outboxSeries(outbox(g))].filter(([f]) => f.startsWith('KCL/')).flatMap(([, files]) => files);
    await waitFor(
      () => existsSync(outbox(g)) && kcl().length === 2,
      'both instances of the released series delivered to KCL',
      30_000,
    );
    const folders = delivered(g);
    // Re-anonymised under the hospital project's labels; the quarantine copy stays where it was.
    expect(folders).toHaveLength(2);
    expect(folders[0]).toMatch(/^KCL\/KCL_\d{6}\/KCL_\d{6}_01\/2\.25\.\d+$/);
    expect(folders[1]).toMatch(/^QUARANTINE\/QUARANTINE_\d{6}\/QUARANTINE_\d{6}_01\/2\.25\.\d+$/);
    expect(outboxSeries(outbox(g)).get(folders[0] ?? '')).toHaveLength(2);
    const timeline = (await http(g, 'GET', `/series/${String(id)}`)).json;
    const route = timeline.route as Json;
    expect(route).toMatchObject({ state: 'routed', target: 'hospital', project: 'KCL', releasedBy: by });
    expect(rules(route.reasons)).toEqual(['protocol:model', 'release']);
    const released = (timeline.events as Json[]).filter((e) => e.kind === 'series.released');
    expect(released).toHaveLength(1);
    expect(released[0]?.detail).toMatchObject({ by, from: 'QUARANTINE', to: 'KCL' });
    return released[0]?.detail as Json;
  };

  it('explain on a folder prints one JSON line per series with its project and reasons, and sends nothing', async () => {
    const folder = join(scratch, 'explain-cli');
    const uids = await studyFolder(folder);
    const dataDir = mkdtempSync(join(scratch, 'data-'));
    const json = await cli(dataDir, ['explain', folder, '--json']);
    expect(json.code, json.stderr).toBe(0);
    const lines = json.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    const bySeries = new Map(lines.map((l) => JSON.parse(l) as Json).map((o) => [o.seriesInstanceUid, o]));
    for (const o of bySeries.values()) {
      expect(Array.isArray(o.reasons)).toBe(true);
      for (const r of o.reasons as Json[]) {
        expect([typeof r.rule, typeof r.message]).toEqual(['string', 'string']);
      }
    }
    expect(bySeries.get(uids.ct)).toMatchObject({ project: 'KCL', target: 'hospital', modality: 'CT', instances: 3 });
    expect(rules(bySeries.get(uids.ct)?.reasons)).toEqual(['default']);
    expect(bySeries.get(uids.mr)).toMatchObject({
      project: 'QUARANTINE',
      target: 'quarantine',
      modality: 'MR',
      instances: 2,
    });
    expect(bySeries.get(uids.mr)?.reasons).toEqual([
      expect.objectContaining({ rule: 'protocol:model', file: protocolFile, line: 2, values: ['Aera'], instances: 2 }),
    ]);
    expect(bySeries.get(uids.us)).toMatchObject({
      project: 'QUARANTINE',
      target: 'quarantine',
      modality: 'US',
      instances: 1,
    });
    expect(bySeries.get(uids.us)?.reasons).toEqual([
      expect.objectContaining({ rule: 'builtin:modality', values: ['US'], instances: 1 }),
    ]);
    expect(json.stderr).toContain(
      `skipped ${join(folder, 'notes.txt')}: not DICOM (no preamble, no recognisable dataset)`,
    );

    const text = await cli(dataDir, ['explain', folder]);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toContain(`${uids.ct} (CT, 3 instances) -> KCL`);
    expect(text.stdout).toContain(`${uids.mr} (MR, 2 instances) -> QUARANTINE`);
    expect(text.stdout).toContain(`${uids.us} (US, 1 instance) -> QUARANTINE`);
    expect(text.stdout).toContain('  - protocol:model: ');
    expect(text.stdout).toContain('  - builtin:modality: ');

    // Sent nothing and recorded nothing: the data directory stays empty (no outbox, spool or gateway.db).
    expect(readdirSync(dataDir)).toEqual([]);

    const missing = await cli(dataDir, ['explain', join(scratch, 'no-such-folder'), '--json']);
    expect(missing.code).toBe(66);
    expect(missing.stdout).toBe('');
    expect(missing.stderr).toContain(`${join(scratch, 'no-such-folder')}: no such file or folder.`);
  });

  it('POST /explain explains one uploaded instance and an uploaded zip, and delivers nothing', async () => {
    const g = await start({ route: { hospitalProject: 'KCL', protocolFile } });
    const folder = join(scratch, 'explain-http');
    const uids = await studyFolder(folder);
    const one = await http(g, 'POST', '/explain', [
      '--data-binary',
      `@${join(folder, 'mr', '0001.dcm')}`,
      '-H',
      'Content-Type: application/dicom',
    ]);
    expect(one.status).toBe(200);
    expect(one.json.skipped).toEqual([]);
    expect(one.json.series).toHaveLength(1);
    expect((one.json.series as Json[])[0]).toMatchObject({
      seriesInstanceUid: uids.mr,
      modality: 'MR',
      instances: 1,
      project: 'QUARANTINE',
      target: 'quarantine',
    });
    expect(rules((one.json.series as Json[])[0]?.reasons)).toEqual(['protocol:model']);

    const zip = join(scratch, 'explain-http.zip');
    await zipFolder(folder, zip);
    const all = await http(g, 'POST', '/explain', ['--data-binary', `@${zip}`, '-H', 'Content-Type: application/zip']);
    expect(all.status).toBe(200);
    const projects = Object.fromEntries(
      (all.json.series as Json[]).map((s): [string, unknown[]] => [
        String(s.seriesInstanceUid),
        [s.project, s.instances, rules(s.reasons)],
      ]),
    );
    expect(projects).toEqual({
      [uids.ct]: ['KCL', 3, ['default']],
      [uids.mr]: ['QUARANTINE', 2, ['protocol:model']],
      [uids.us]: ['QUARANTINE', 1, ['builtin:modality']],
    });
    expect(all.json.skipped).toEqual([
      { path: 'notes.txt', reason: 'not DICOM (no preamble, no recognisable dataset)' },
    ]);

    expect((await http(g, 'GET', '/series')).json).toEqual({ items: [], total: 0, nextOffset: null, nextBefore: null });
    expect(delivered(g)).toEqual([]);
  });

  it('POST /series/:id/release needs a bearer token from http.adminTokenFile, records who, and delivers to KCL', async () => {
    const g = await adminDaemon();
    const { id } = await quarantine(g, 'release-http');
    const path = `/series/${String(id)}/release`;
    const note = ['-H', 'Content-Type: application/json', '--data-binary', '{"note":"pixels checked"}'];

    const anonymous = await http(g, 'POST', path);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers).toContain('www-authenticate: bearer realm="xnat-gateway"');
    expect(anonymous.json).toEqual({
      error: 'unauthorized',
      message: 'An admin bearer token is required (Authorization: Bearer <token>).',
    });
    const wrong = await http(g, 'POST', path, ['-H', 'Authorization: Bearer s3cret-tokem', ...note]);
    expect(wrong.status).toBe(401);
    expect(wrong.headers).toContain('www-authenticate: bearer');
    expect(wrong.json).toEqual({ error: 'unauthorized', message: 'The bearer token is not valid.' });
    expect(((await http(g, 'GET', `/series/${String(id)}`)).json.route as Json).project).toBe('QUARANTINE');

    const ok = await http(g, 'POST', path, ['-H', 'Authorization: Bearer s3cret-token', ...note]);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({ released: [id], project: 'KCL', by: 'alice' });
    expect(await expectReleased(g, id, 'alice')).toMatchObject({ note: 'pixels checked' });

    const again = await http(g, 'POST', path, ['-H', 'Authorization: Bearer s3cret-token', ...note]);
    expect(again.status).toBe(409);
    expect(again.json).toEqual({
      error: 'conflict',
      message: `Series ${String(id)} is not quarantined; it goes to KCL.`,
    });
  });

  it('release answers 403 naming http.adminTokenFile when the daemon has no token file', async () => {
    const g = await start({ route: { hospitalProject: 'KCL', protocolFile } });
    const r = await http(g, 'POST', '/series/1/release', [
      '-H',
      'Authorization: Bearer s3cret-token',
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '{}',
    ]);
    expect(r.status).toBe(403);
    expect(r.json).toEqual({
      error: 'forbidden',
      message: 'Admin endpoints are disabled: set http.adminTokenFile (env XNAT_GATEWAY_ADMIN_TOKEN_FILE).',
    });
  });

  it('refuses a token file that others can read (mode 0644)', () => {
    const open = join(scratch, 'tokens-0644');
    writeFileSync(open, 'alice:s3cret-token\n');
    chmodSync(open, 0o644);
    let err: unknown;
    try {
      buildConfig({ dataDir: scratch, http: { adminTokenFile: open } }, {}, scratch);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).message).toContain(
      `http.adminTokenFile: ${open} is readable by others (mode 644); chmod 600 it`,
    );
  });

  it('xnat-gateway release SERIES_UID --by bob releases a series of the running daemon; an unknown UID exits 66', async () => {
    const g = await adminDaemon();
    const { id, uid } = await quarantine(g, 'release-cli');
    // The CLI finds the running daemon by its status server.
    const r = await cli(g.dataDir, ['release', uid, '--by', 'bob'], { XNAT_GATEWAY_HTTP_PORT: String(g.httpPort) });
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe(
      `Released series ${String(id)} to KCL (by bob); delivery is queued. The running gateway delivers it now.`,
    );
    expect(await expectReleased(g, id, 'bob')).toMatchObject({ note: null });
    // Where no gateway answers, it does not claim a delivery is under way.
    await g.stop();
    const g2 = await adminDaemon();
    const second = await quarantine(g2, 'release-cli-2');
    const closed = await freePort();
    const q = await cli(g2.dataDir, ['release', String(second.id), '--by', 'bob'], {
      XNAT_GATEWAY_HTTP_PORT: String(closed),
    });
    expect(q.code, q.stderr).toBe(0);
    expect(q.stdout.trim()).toBe(
      `Released series ${String(second.id)} to KCL (by bob); delivery is queued. No gateway answers on 127.0.0.1:${String(closed)}: it is delivered when the gateway runs.`,
    );

    const unknown = newUid();
    const u = await cli(g2.dataDir, ['release', unknown, '--by', 'bob']);
    expect(u.code).toBe(66);
    expect(u.stderr).toContain(`No series ${unknown} is known to the gateway.`);
  });

  /** Spool files holding data (empty ones are free slots). */
  const spooled = (g: TestDaemon): string[] =>
    readdirSync(join(g.dataDir, 'spool'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile() && statSync(join(e.parentPath, e.name)).size > 0)
      .map((e) => e.name);

  it('a quarantined series keeps its originals; POST /series/:id/discard (token, reason) deletes them, audited, and release is refused after', async () => {
    const g = await adminDaemon();
    const { id } = await quarantine(g, 'discard-http');
    // Delivered to QUARANTINE is not its final project: a release re-anonymises it from the originals.
    expect(spooled(g)).toHaveLength(2);
    const status = (await http(g, 'GET', '/status')).json.spool as Json;
    expect((status.holding as Json).quarantined).toMatchObject({ series: 1, files: 2 });
    const path = `/series/${String(id)}/discard`;
    const body = [
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '{"reason":"burned-in name, not for research"}',
    ];
    expect((await http(g, 'POST', path, body)).status).toBe(401);
    expect(
      (
        await http(g, 'POST', path, [
          '-H',
          'Authorization: Bearer s3cret-token',
          '-H',
          'Content-Type: application/json',
          '--data-binary',
          '{}',
        ])
      ).status,
    ).toBe(400);
    const ok = await http(g, 'POST', path, ['-H', 'Authorization: Bearer s3cret-token', ...body]);
    expect(ok.status).toBe(200);
    expect(ok.json).toEqual({
      seriesId: id,
      files: 2,
      bytes: expect.any(Number) as number,
      jobsCancelled: 0,
      by: 'alice',
    });
    expect(spooled(g)).toEqual([]);
    const events = (await http(g, 'GET', `/series/${String(id)}`)).json.events as Json[];
    expect(events.find((e) => e.kind === 'series.discarded')?.detail).toMatchObject({
      by: 'alice',
      reason: 'burned-in name, not for research',
      files: 2,
    });
    const release = await http(g, 'POST', `/series/${String(id)}/release`, [
      '-H',
      'Authorization: Bearer s3cret-token',
      '-H',
      'Content-Type: application/json',
      '--data-binary',
      '{}',
    ]);
    expect(release.status).toBe(409);
    expect(release.json.message).toContain('its original files were discarded');
    expect((await http(g, 'POST', path, ['-H', 'Authorization: Bearer s3cret-token', ...body])).status).toBe(409);
  });

  it('xnat-gateway discard SERIES_UID --reason deletes a held series of the running daemon; without a reason it is a usage error', async () => {
    const g = await adminDaemon();
    const { id, uid } = await quarantine(g, 'discard-cli');
    const noReason = await cli(g.dataDir, ['discard', uid]);
    expect(noReason.code).toBe(2);
    expect(noReason.stderr).toMatch(/a reason is required \(--reason TEXT\)/i);
    expect(spooled(g)).toHaveLength(2);
    const r = await cli(g.dataDir, ['discard', uid, '--reason', 'sent to the wrong gateway', '--by', 'carol']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toMatch(
      new RegExp(`^Discarded series ${String(id)} \\(by carol\\): 2 files, \\d+ bytes removed from the spool\\.$`),
    );
    expect(spooled(g)).toEqual([]);
    const events = (await http(g, 'GET', `/series/${String(id)}`)).json.events as Json[];
    expect(events.find((e) => e.kind === 'series.discarded')?.detail).toMatchObject({
      by: 'carol',
      reason: 'sent to the wrong gateway',
    });
    const unknown = newUid();
    expect((await cli(g.dataDir, ['discard', unknown, '--reason', 'x'])).code).toBe(66);
  });
});
