// The command line as an operator meets it: per-command help, --version, usage errors for invalid
// values (2), and the distinct exit codes for "not found" (66), "refused in this state" (65),
// "unreachable" (69) and "invalid configuration" (78); README's examples run as written.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { openDb } from '../../src/store/sqlite/db.ts';
import { freePort, run } from '../helpers/peers.ts';

const root = new URL('../../', import.meta.url).pathname;
const bin = join(root, 'bin/xnat-gateway');
const scratch = mkdtempSync(join(tmpdir(), 'xg-cli-cmds-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});
const cli = (args: string[], env: Record<string, string> = {}): ReturnType<typeof run> =>
  run(bin, args, { env, cwd: scratch });
const COMMANDS = [
  'run',
  'check-config',
  'import',
  'queue',
  'anonymise',
  'pseudonyms',
  'explain',
  'release',
  'series',
  'quarantine',
  'hash-password',
  'pull',
];

describe('help and version', () => {
  it.each(COMMANDS)('%s --help prints its own usage, options and exit codes', async (name) => {
    const r = await cli([name, '--help']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^Usage:\\n  xnat-gateway ${name}\\b`));
    expect(r.stdout).toContain('Options:');
    expect(r.stdout).toMatch(/Exit codes:\n\s+0 {2}success/);
    expect(r.stdout).toContain(' 2  usage');
    // Not the global usage.
    expect(r.stdout).not.toContain('Commands:');
  });

  it('the global --help lists every command and the exit codes; --version prints the version', async () => {
    const h = await cli(['--help']);
    expect(h.code).toBe(0);
    for (const name of COMMANDS) {
      expect(h.stdout).toMatch(new RegExp(`^  ${name} `, 'm'));
    }
    for (const code of ['65', '66', '69', '78']) {
      expect(h.stdout).toMatch(new RegExp(`^  ${code}  `, 'm'));
    }
    const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string };
    for (const flag of ['--version', '-V']) {
      const v = await cli([flag]);
      expect(v.code).toBe(0);
      expect(v.stdout.trim()).toBe(`xnat-gateway ${pkg.version} (Node ${process.version})`);
    }
  });

  it('an unknown command, with or without --help, is a usage error (2)', async () => {
    for (const args of [['bogus', '--help'], ['bogus'], ['help', 'bogus']]) {
      const r = await cli(args);
      expect(r.code).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('unknown command "bogus"');
    }
  });

  it('an unknown option or an invalid value is a usage error (2) naming what is accepted', async () => {
    const bad = await cli(['queue', 'ls', '--state', 'nonsense']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('--state: "nonsense" is not one of queued, running, done, dead.');
    const unknown = await cli(['queue', 'ls', '--stat', 'dead']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/Unknown option '--stat'/);
    expect((await cli(['queue', 'requeue', 'seven'])).code).toBe(2);
    expect((await cli(['release'])).code).toBe(2);
  });
});

describe('exit codes', () => {
  it('queue requeue: a job that does not exist is 66, one delivered is refused with 65', async () => {
    const dataDir = join(scratch, 'jobs');
    mkdirSync(dataDir, { recursive: true });
    openDb(join(dataDir, 'gateway.db')).close();
    const raw = new Database(join(dataDir, 'gateway.db'));
    raw
      .prepare(
        `INSERT INTO series (id, study_uid, series_uid, state, first_instance_at, last_instance_at) VALUES (1, '1.2', '1.2.3', 'delivered', 0, 0)`,
      )
      .run();
    raw
      .prepare(
        `INSERT INTO jobs (id, kind, series_id, sink, state, attempts, max_attempts, run_at, created_at, updated_at) VALUES (7, 'deliver', 1, 'folder', 'done', 1, 8, 0, 0, 0)`,
      )
      .run();
    raw.close();
    const env = { XNAT_GATEWAY_DATA_DIR: dataDir };
    const missing = await cli(['queue', 'requeue', '99'], env);
    expect(missing.code).toBe(66);
    expect(missing.stderr.trim()).toBe('No job 99.');
    const done = await cli(['queue', 'requeue', '7'], env);
    expect(done.code).toBe(65);
    expect(done.stderr.trim()).toBe('Job 7 is done; requeue takes dead or queued jobs.');
    const noDb = await cli(['queue', 'ls'], { XNAT_GATEWAY_DATA_DIR: join(scratch, 'nothing-here') });
    expect(noDb.code).toBe(66);
    expect(noDb.stderr).toContain('no gateway database');
  });

  it('pseudonyms export --project of a project the ledger does not know is 66, not an empty file', async () => {
    const dataDir = join(scratch, 'ledger');
    mkdirSync(dataDir, { recursive: true });
    openDb(join(dataDir, 'gateway.db')).close();
    const r = await cli(['pseudonyms', 'export', '--project', 'NOPE'], { XNAT_GATEWAY_DATA_DIR: dataDir });
    expect(r.code).toBe(66);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('Project NOPE has no pseudonyms in the ledger');
  });

  it('check-config: XNAT unreachable is 69, XNAT refusing the credentials is 78', async () => {
    const secret = join(scratch, 'xnat-password');
    writeFileSync(secret, 'secret');
    chmodSync(secret, 0o600);
    const closed = await freePort();
    const env = (url: string): Record<string, string> => ({
      XNAT_GATEWAY_DATA_DIR: join(scratch, 'cc'),
      XNAT_GATEWAY_XNAT_URL: url,
      XNAT_GATEWAY_XNAT_USER: 'gateway',
      XNAT_GATEWAY_XNAT_PASSWORD_FILE: secret,
    });
    const down = await cli(['check-config'], env(`http://127.0.0.1:${String(closed)}`));
    expect(down.code, down.stderr).toBe(69);
    expect(down.stderr).toMatch(/sink xnat-rest \(unreachable\): XNAT at http:\/\/127\.0\.0\.1:\d+ is not reachable/);
    // An XNAT that answers every login with 401.
    const server = createServer((_req, res) => {
      res.writeHead(401, { 'Content-Type': 'text/plain' }).end('Unauthorized');
    });
    await new Promise<void>((resolve) => {
      server.listen(0, '127.0.0.1', resolve);
    });
    try {
      const port = (server.address() as { port: number }).port;
      const refused = await cli(['check-config'], env(`http://127.0.0.1:${String(port)}`));
      expect(refused.code, refused.stderr).toBe(78);
      expect(refused.stderr).not.toContain('(unreachable)');
    } finally {
      server.close();
    }
  });

  it('a mistyped XNAT_GATEWAY_* variable is a configuration error naming the nearest valid one', async () => {
    const r = await cli(['check-config'], { XNAT_GATEWAY_DIMSE_PROT: '11112' });
    expect(r.code).toBe(78);
    expect(r.stderr).toContain(
      'XNAT_GATEWAY_DIMSE_PROT: not a variable xnat-gateway reads; did you mean XNAT_GATEWAY_DIMSE_PORT?',
    );
  });
});

describe('README', () => {
  // Every `./gateway xnat-gateway CMD …` example must name a real command and only options that
  // command has, and its --help must run with only Debian's Node 20 on PATH.
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const examples = [...readme.matchAll(/^\.\/gateway xnat-gateway ([a-z-]+)([^#\n]*)/gm)].map((m) => ({
    cmd: m[1] ?? '',
    rest: m[2] ?? '',
  }));

  it('shows the command line as ./gateway xnat-gateway (no bare node src/… that fails on Node 20)', () => {
    expect(examples.length).toBeGreaterThanOrEqual(8);
    expect(readme).not.toMatch(/^node src\/cli\/main\.ts/m);
  });

  it('uses only commands and options that exist, each of whose --help runs on a machine with only Node 20', async () => {
    for (const { cmd, rest } of examples) {
      const r = await run(join(root, 'gateway'), ['xnat-gateway', cmd, '--help'], {
        cwd: root,
        env: { PATH: `/usr/bin:/bin:${process.env.PATH ?? ''}` },
      });
      expect(r.code, `${cmd}: ${r.stderr}`).toBe(0);
      for (const opt of rest.match(/--[a-z-]+/g) ?? []) {
        expect(r.stdout, `${cmd} ${opt}`).toContain(opt);
      }
    }
  });
});
