import { describe, expect, it } from 'vitest';
import { sinksFor, sinkIds } from '../../../src/app/compose-sinks.ts';
import { buildConfig } from '../../../src/config/load.ts';
import { verifiersOf } from '../../../src/config/sinks.ts';
import { problemsOf } from '../../helpers/config-problems.ts';

const REST_ENV = {
  XNAT_GATEWAY_XNAT_URL: 'http://xnat-web:8080',
  XNAT_GATEWAY_XNAT_USER: 'gateway',
  XNAT_GATEWAY_XNAT_PASSWORD_FILE: 'secrets/xnat',
};

describe('sinks configuration', () => {
  it('keeps the folder sink when no XNAT is configured', () => {
    const cfg = buildConfig({}, {}, '/srv');
    expect(cfg.sinks).toEqual([{ type: 'folder', path: '/srv/data/outbox' }]);
  });

  it('delivers by REST import when XNAT_GATEWAY_XNAT_URL is set', () => {
    const cfg = buildConfig({}, REST_ENV, '/srv');
    expect(cfg.sinks).toEqual([
      {
        type: 'xnat-rest',
        url: 'http://xnat-web:8080',
        user: 'gateway',
        passwordFile: '/srv/secrets/xnat',
        dest: 'archive',
        verify: true,
        requestTimeoutMs: 60_000,
        uploadTimeoutMs: 1_800_000,
      },
    ]);
    expect(sinkIds(cfg)).toEqual(['xnat-rest']);
  });

  it('names the missing companion variables', () => {
    expect(problemsOf(() => buildConfig({}, { XNAT_GATEWAY_XNAT_URL: 'http://x' }, '/'))).toEqual([
      'sinks (from XNAT_GATEWAY_XNAT_URL): XNAT_GATEWAY_XNAT_USER must be set too',
      'sinks (from XNAT_GATEWAY_XNAT_URL): XNAT_GATEWAY_XNAT_PASSWORD_FILE must be set too',
    ]);
  });

  it('refuses a malformed XNAT_GATEWAY_XNAT_DICOM and a URL that is not http(s)', () => {
    expect(problemsOf(() => buildConfig({}, { XNAT_GATEWAY_XNAT_DICOM: 'xnat-web:XNAT' }, '/'))).toEqual([
      'sinks (from XNAT_GATEWAY_XNAT_DICOM="xnat-web:XNAT"): expected host:port:AE, e.g. xnat-web:8105:XNAT',
    ]);
    expect(problemsOf(() => buildConfig({}, { XNAT_GATEWAY_XNAT_DICOM: 'h:70000:XNAT' }, '/'))).toHaveLength(1);
    expect(problemsOf(() => buildConfig({}, { ...REST_ENV, XNAT_GATEWAY_XNAT_URL: 'ftp://x' }, '/'))[0]).toMatch(
      /^sinks\.0\.url: /,
    );
  });

  it('will not guess between a sinks list in the file and the environment', () => {
    expect(problemsOf(() => buildConfig({ sinks: [{ type: 'folder' }] }, REST_ENV, '/'))).toEqual([
      'sinks: set in the config file and by XNAT_GATEWAY_XNAT_URL; use one or the other',
    ]);
  });

  it('never writes a secret in the config: a REST sink needs a password file or variable', () => {
    const problems = problemsOf(() =>
      buildConfig({ sinks: [{ type: 'xnat-rest', url: 'http://x', user: 'u' }] }, {}, '/'),
    );
    expect(problems).toEqual([
      'sinks.0.passwordFile: needs passwordFile or passwordEnv (the password or token secret is never written in the config)',
    ]);
    expect(
      problemsOf(() =>
        buildConfig(
          { sinks: [{ type: 'xnat-rest', url: 'http://x', user: 'u', password: 'secret', passwordFile: 'f' }] },
          {},
          '/',
        ),
      )[0],
    ).toMatch(/^sinks\.0: Unrecognized key: "password"/);
  });

  it('chooses sinks per target project, one job per sink', () => {
    const cfg = buildConfig(
      {
        route: { hospitalProject: 'KCL' },
        sinks: [
          { type: 'xnat-rest', url: 'http://x', user: 'u', passwordFile: '/f', projects: ['KCL'] },
          { type: 'folder', path: 'held', projects: ['QUARANTINE'] },
          { type: 'folder', path: 'copy' },
        ],
      },
      {},
      '/',
    );
    const forProject = sinksFor(cfg);
    expect(forProject('KCL')).toEqual(['xnat-rest-1', 'folder-3']);
    expect(forProject('QUARANTINE')).toEqual(['folder-2', 'folder-3']);
  });

  it('needs a sink for every target project, and only target projects', () => {
    const problems = problemsOf(() =>
      buildConfig(
        {
          sinks: [
            { type: 'folder', projects: ['HOSPITAL'] },
            { type: 'folder', projects: ['RESEARCH'] },
          ],
        },
        {},
        '/',
      ),
    );
    expect(problems).toEqual([
      'sinks.1.projects: RESEARCH is not a target project (route.hospitalProject HOSPITAL, route.quarantineProject QUARANTINE)',
      "sinks: no sink delivers project QUARANTINE; add it to a sink's projects (or leave projects out to deliver every project)",
    ]);
  });

  describe('which REST access verifies a C-STORE sink (verifyWith)', () => {
    const rest = (url: string) => ({ type: 'xnat-rest', url, user: 'u', passwordFile: '/run/secrets/x' });
    const dimse = (o: Record<string, unknown> = {}) => ({ type: 'xnat-dimse', host: 'xnat-b', ...o });

    it('uses the only xnat-rest sink by default, and none when there is none', () => {
      expect(verifiersOf(buildConfig({ sinks: [rest('http://a'), dimse()] }, {}, '/srv'), [])).toEqual(
        new Map([[1, 0]]),
      );
      expect(verifiersOf(buildConfig({ sinks: [dimse()] }, {}, '/srv'), [])).toEqual(new Map([[0, null]]));
    });

    it('uses the xnat-rest sink verifyWith names, not the first one', () => {
      const cfg = buildConfig(
        { sinks: [rest('http://a'), rest('http://b'), dimse({ verifyWith: 'xnat-rest-2' })] },
        {},
        '/srv',
      );
      expect(verifiersOf(cfg, [])).toEqual(new Map([[2, 1]]));
    });

    it('refuses a C-STORE sink without verifyWith when there are several XNATs, naming the key', () => {
      expect(
        problemsOf(() => buildConfig({ sinks: [rest('http://a'), rest('http://b'), dimse()] }, {}, '/srv')),
      ).toEqual([
        'sinks.2.verifyWith: there are 2 xnat-rest sinks (xnat-rest-1, xnat-rest-2); name the one whose XNAT this sink delivers to',
      ]);
    });

    it('refuses a verifyWith that names no xnat-rest sink, naming the key', () => {
      expect(
        problemsOf(() =>
          buildConfig({ sinks: [{ type: 'folder' }, rest('http://a'), dimse({ verifyWith: 'folder-1' })] }, {}, '/srv'),
        ),
      ).toEqual(['sinks.2.verifyWith: folder-1 is not an xnat-rest sink id (xnat-rest-2)']);
    });
  });
});
