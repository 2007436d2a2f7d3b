import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { buildConfig, ENV_OVERRIDES, loadConfig } from '../../../src/config/load.ts';
import { problemsOf } from '../../helpers/config-problems.ts';

describe('config loading', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'xg-config-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  const write = (name: string, text: string): string => {
    const file = join(dir, name);
    writeFileSync(file, text);
    return file;
  };

  it('fills every documented default when there is no file and no environment', () => {
    const cfg = loadConfig(undefined, {}, dir);
    expect(cfg.dataDir).toBe(join(dir, 'data'));
    expect(cfg.dimse.port).toBe(8104);
    expect(cfg.dimse.aeTitle).toBe('XNAT');
    expect(cfg.http.host).toBe('127.0.0.1');
    expect(cfg.http.port).toBe(8090);
    expect(cfg.series.quietPeriodMs).toBe(60_000);
    expect(cfg.sinks).toEqual([{ type: 'folder', path: join(dir, 'data', 'outbox') }]);
  });

  it('resolves a relative dataDir against the base directory and keeps an absolute one', () => {
    expect(buildConfig({ dataDir: 'spool/here' }, {}, '/srv/gw').dataDir).toBe('/srv/gw/spool/here');
    expect(buildConfig({ dataDir: '/var/lib/xg' }, {}, '/srv/gw').dataDir).toBe('/var/lib/xg');
  });

  it('resolves a folder sink path relative to the data directory', () => {
    const cfg = buildConfig(
      {
        dataDir: '/d',
        sinks: [
          { type: 'folder', path: 'out' },
          { type: 'folder', path: '/abs' },
        ],
      },
      {},
      '/',
    );
    expect(cfg.sinks.map((s) => (s.type === 'folder' ? s.path : null))).toEqual(['/d/out', '/abs']);
  });

  it('reads values from a YAML file', () => {
    const file = write('gw.yaml', 'dimse:\n  port: 11112\n  aeTitle: GATEWAY\nseries:\n  quietPeriodMs: 5000\n');
    const cfg = loadConfig(file, {}, dir);
    expect(cfg.dimse.port).toBe(11112);
    expect(cfg.dimse.aeTitle).toBe('GATEWAY');
    expect(cfg.series.quietPeriodMs).toBe(5000);
  });

  it('treats an empty YAML file as all defaults', () => {
    const cfg = loadConfig(write('empty.yaml', ''), {}, dir);
    expect(cfg.dimse.port).toBe(8104);
  });

  it('lets each environment variable override its key, over the file', () => {
    const file = write(
      'gw.yaml',
      'dataDir: /from/file\ndimse:\n  port: 1\n  aeTitle: FILE\nhttp:\n  port: 2\nseries:\n  quietPeriodMs: 3\n',
    );
    const cfg = loadConfig(
      file,
      {
        XNAT_GATEWAY_DATA_DIR: '/from/env',
        XNAT_GATEWAY_DIMSE_PORT: '11112',
        XNAT_GATEWAY_AE_TITLE: 'ENVAE',
        XNAT_GATEWAY_HTTP_PORT: ' 9999 ',
        XNAT_GATEWAY_SERIES_QUIET_MS: '1500',
      },
      dir,
    );
    expect(cfg.dataDir).toBe('/from/env');
    expect(cfg.dimse.port).toBe(11112);
    expect(cfg.dimse.aeTitle).toBe('ENVAE');
    expect(cfg.http.port).toBe(9999);
    expect(cfg.series.quietPeriodMs).toBe(1500);
  });

  it('puts the import, processed and rejected folders under dataDir unless told otherwise', () => {
    const cfg = buildConfig({ dataDir: '/srv/gw' }, {}, '/');
    expect([cfg.folder.path, cfg.folder.processedDir, cfg.folder.rejectedDir]).toEqual([
      '/srv/gw/import',
      '/srv/gw/processed',
      '/srv/gw/rejected',
    ]);
    const shared = buildConfig(
      { dataDir: '/srv/gw', folder: { processedDir: 'done' } },
      { XNAT_GATEWAY_IMPORT_DIR: '/mnt/share/dicom' },
      '/',
    );
    expect([shared.folder.path, shared.folder.processedDir]).toEqual(['/mnt/share/dicom', '/srv/gw/done']);
  });

  it('refuses gateway folders inside the import folder, naming each key', () => {
    const problems = problemsOf(() =>
      buildConfig({ dataDir: '/srv/gw', folder: { path: '/srv', rejectedDir: '/tmp/rej' } }, {}, '/'),
    );
    expect(problems).toEqual([
      'dataDir: /srv/gw is inside the import folder folder.path (/srv); it would be imported again',
      'folder.processedDir: /srv/gw/processed is inside the import folder folder.path (/srv); it would be imported again',
    ]);
    expect(() => buildConfig({ dataDir: '/srv/gw', folder: { enabled: false, path: '/srv' } }, {}, '/')).not.toThrow();
  });

  it('ignores an environment variable set to the empty string', () => {
    expect(buildConfig({}, { XNAT_GATEWAY_DIMSE_PORT: '' }, '/').dimse.port).toBe(8104);
  });

  it('documents exactly the fifteen environment overrides', () => {
    expect(ENV_OVERRIDES.map((o) => o.env)).toEqual([
      'XNAT_GATEWAY_DATA_DIR',
      'XNAT_GATEWAY_NODE_ID',
      'XNAT_GATEWAY_DIMSE_PORT',
      'XNAT_GATEWAY_AE_TITLE',
      'XNAT_GATEWAY_IMPORT_DIR',
      'XNAT_GATEWAY_HTTP_PORT',
      'XNAT_GATEWAY_SERIES_QUIET_MS',
      'XNAT_GATEWAY_HOSPITAL_PROJECT',
      'XNAT_GATEWAY_QUARANTINE_PROJECT',
      'XNAT_GATEWAY_PROTOCOL_FILE',
      'XNAT_GATEWAY_ADMIN_TOKEN_FILE',
      'XNAT_GATEWAY_HTTP_AUTH',
      'XNAT_GATEWAY_ANON_PROFILE',
      'XNAT_GATEWAY_STOW_PORT',
      'XNAT_GATEWAY_STOW_TOKEN_FILE',
    ]);
  });

  it('reports every problem at once, each naming its key', () => {
    const problems = problemsOf(() =>
      buildConfig(
        {
          dimse: { port: 70000, aeTitle: 'THIS_AE_TITLE_IS_TOO_LONG' },
          workers: { concurrency: 0 },
          log: { level: 'loud' },
        },
        {},
        '/',
      ),
    );
    expect(problems).toHaveLength(4);
    for (const key of ['dimse.port', 'dimse.aeTitle', 'workers.concurrency', 'log.level']) {
      expect(
        problems.some((p) => p.startsWith(`${key}:`)),
        `a problem for ${key} in ${JSON.stringify(problems)}`,
      ).toBe(true);
    }
  });

  it('names the environment variable a bad value came from', () => {
    const problems = problemsOf(() =>
      buildConfig(
        {},
        { XNAT_GATEWAY_HTTP_PORT: 'eighty', XNAT_GATEWAY_DIMSE_PORT: '70000', XNAT_GATEWAY_AE_TITLE: 'A'.repeat(17) },
        '/',
      ),
    );
    expect(problems).toHaveLength(3);
    expect(problems.find((p) => p.startsWith('http.port'))).toContain('XNAT_GATEWAY_HTTP_PORT');
    expect(problems.find((p) => p.startsWith('dimse.port'))).toContain('(from XNAT_GATEWAY_DIMSE_PORT)');
    expect(problems.find((p) => p.startsWith('dimse.aeTitle'))).toContain('(from XNAT_GATEWAY_AE_TITLE)');
  });

  it('refuses a non-integer from an integer environment variable', () => {
    const problems = problemsOf(() => buildConfig({}, { XNAT_GATEWAY_SERIES_QUIET_MS: '1.5' }, '/'));
    expect(problems).toEqual([
      expect.stringMatching(/^series\.quietPeriodMs \(from XNAT_GATEWAY_SERIES_QUIET_MS="1\.5"\)/),
    ]);
  });

  it('rejects unknown keys at the top level and inside sections, naming them', () => {
    const problems = problemsOf(() =>
      buildConfig({ dataDri: '/x', dimse: { prot: 1 }, sinks: [{ type: 'folder', pth: 'x' }] }, {}, '/'),
    );
    expect(problems).toHaveLength(3);
    expect(problems.some((p) => p.includes('dataDri'))).toBe(true);
    expect(problems.some((p) => p.startsWith('dimse') && p.includes('prot'))).toBe(true);
    expect(problems.some((p) => p.startsWith('sinks.0') && p.includes('pth'))).toBe(true);
  });

  it('rejects an unknown sink type', () => {
    const problems = problemsOf(() => buildConfig({ sinks: [{ type: 'ftp' }] }, {}, '/'));
    expect(problems).toEqual([expect.stringMatching(/^sinks\.0\.type:/)]);
  });

  it('rejects an invalid allowed peer and an empty sink list', () => {
    const problems = problemsOf(() =>
      buildConfig({ dimse: { allowedPeers: ['10.0.0.0/33', 'not-an-ip'] }, sinks: [] }, {}, '/'),
    );
    expect(problems).toHaveLength(3);
    expect(problems.filter((p) => p.startsWith('dimse.allowedPeers.'))).toHaveLength(2);
    expect(problems.some((p) => p.startsWith('sinks:'))).toBe(true);
  });

  it('refuses a top level that is not a mapping', () => {
    const problems = problemsOf(() => buildConfig([1, 2], {}, '/', 'gw.yaml'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain('gw.yaml');
  });

  it('names the file and line of a YAML syntax error', () => {
    const file = write('broken.yaml', 'dimse:\n  port: 104\n  aeTitle: [unclosed\nhttp:\n  port: 1\n');
    const problems = problemsOf(() => loadConfig(file, {}, dir));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(new RegExp(`^${file.replaceAll('.', '\\.')} line \\d+: `));
    const line = Number(/ line (\d+):/.exec(problems[0] ?? '')?.[1]);
    expect(line).toBeGreaterThanOrEqual(3);
  });

  it('names a config file that cannot be read', () => {
    const problems = problemsOf(() => loadConfig(join(dir, 'missing.yaml'), {}, dir));
    expect(problems).toEqual([`${join(dir, 'missing.yaml')}: cannot be read (ENOENT)`]);
  });

  it('returns a deeply frozen config', () => {
    const cfg = loadConfig(undefined, {}, dir);
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.dimse)).toBe(true);
    expect(Object.isFrozen(cfg.dimse.allowedPeers)).toBe(true);
    expect(Object.isFrozen(cfg.sinks)).toBe(true);
    expect(Object.isFrozen(cfg.sinks[0])).toBe(true);
    expect(() => {
      (cfg.dimse as { port: number }).port = 1;
    }).toThrow(TypeError);
  });
});
