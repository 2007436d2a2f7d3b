// The suites' setup file (test/setup/fail-on-unhandled.ts) fails the very test during which an
// unhandled rejection or uncaught exception happened; spawned daemons that crash fail theirs.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { run } from '../../helpers/peers.ts';
import { spawnWatched, takeSpawnedProblems } from '../../helpers/spawned-daemon.ts';

const root = new URL('../../../', import.meta.url).pathname;
const scratch = mkdtempSync(join(tmpdir(), 'xg-unhandled-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

interface JsonReport {
  testResults: { assertionResults: { title: string; status: string; failureMessages: string[] }[] }[];
}

async function runFixture(
  config: string,
): Promise<{ code: number | null; byTitle: Map<string, { status: string; failure: string }> }> {
  const out = join(scratch, `${config}.json`);
  const r = await run(
    process.execPath,
    [
      join(root, 'node_modules/vitest/vitest.mjs'),
      'run',
      '--config',
      `test/fixtures/vitest-unhandled/${config}`,
      '--reporter=json',
      `--outputFile=${out}`,
    ],
    { cwd: root, timeoutMs: 120_000 },
  );
  const report = JSON.parse(readFileSync(out, 'utf8')) as JsonReport;
  const byTitle = new Map(
    report.testResults
      .flatMap((f) => f.assertionResults)
      .map((a) => [a.title, { status: a.status, failure: a.failureMessages.join('\n') }]),
  );
  return { code: r.code, byTitle };
}

describe('unhandled errors in tests', () => {
  it('vitest alone passes every test and only fails the run as a whole', async () => {
    const { code, byTitle } = await runFixture('vitest.bare.config.ts');
    expect(code).not.toBe(0);
    expect([...byTitle.values()].map((t) => t.status)).toEqual(['passed', 'passed', 'passed']);
  });

  it('with our setup file, the test during which the rejection or exception happened fails, naming it', async () => {
    const { code, byTitle } = await runFixture('vitest.config.ts');
    expect(code).not.toBe(0);
    expect(byTitle.get('leaves a rejection unhandled')).toMatchObject({ status: 'failed' });
    expect(byTitle.get('leaves a rejection unhandled')?.failure).toMatch(/left unhandled/);
    expect(byTitle.get('throws from a timer')).toMatchObject({ status: 'failed' });
    expect(byTitle.get('throws from a timer')?.failure).toMatch(/thrown from a timer/);
    expect(byTitle.get('passes cleanly')?.status).toBe('passed');
  });
});

describe('spawned daemons', () => {
  it('report a fatal log line, a stdout line that is not JSON, and an exit nobody asked for', async () => {
    const script = `console.log(JSON.stringify({ level: 30, msg: 'fine' })); console.log('WARN: not json'); console.log(JSON.stringify({ level: 60, msg: 'Unhandled promise rejection; exiting.' })); process.exit(1);`;
    const p = spawnWatched(process.execPath, ['-e', script]);
    await p.exited;
    const problems = takeSpawnedProblems();
    expect(problems).toHaveLength(3);
    expect(problems.join('\n')).toMatch(/not JSON: WARN: not json/);
    expect(problems.join('\n')).toMatch(/logged fatal: Unhandled promise rejection/);
    expect(problems.join('\n')).toMatch(/exited unexpectedly \(code 1/);
    expect(p.lines().map((l) => l.msg)).toEqual(['fine', 'Unhandled promise rejection; exiting.']);
  });

  it('report nothing for a process stopped or killed on purpose', async () => {
    const a = spawnWatched(process.execPath, [
      '-e',
      'process.on("SIGTERM", () => process.exit(0)); setInterval(() => undefined, 1000);',
    ]);
    await new Promise((r) => setTimeout(r, 300));
    expect(await a.stop()).toBe(0);
    const b = spawnWatched(process.execPath, ['-e', 'setInterval(() => undefined, 1000);']);
    await b.kill();
    expect(takeSpawnedProblems()).toEqual([]);
  });
});
