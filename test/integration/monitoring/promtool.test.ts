// The shipped Prometheus rules pass `promtool check rules` and their own unit tests
// (`promtool test rules`), and every Grafana panel query is valid PromQL (checked by promtool as a
// recording rule). promtool comes from Debian's prometheus package.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { describeWithPeers, run } from '../../helpers/peers.ts';

const DIR = new URL('../../../docker/prometheus/', import.meta.url).pathname;
const DASHBOARD = new URL('../../../docker/grafana/xnat-gateway.json', import.meta.url);
const scratch = mkdtempSync(join(tmpdir(), 'xg-promtool-'));
afterAll(() => {
  rmSync(scratch, { recursive: true, force: true });
});

describeWithPeers(['promtool'], 'Prometheus rules and Grafana queries', () => {
  it('alerts.yml passes promtool check rules', async () => {
    const r = await run('promtool', ['check', 'rules', 'alerts.yml'], { cwd: DIR });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SUCCESS: 12 rules found/);
  });

  it('alerts.yml passes its unit tests (alerts.test.yml)', async () => {
    const r = await run('promtool', ['test', 'rules', 'alerts.test.yml'], { cwd: DIR });
    expect(r.code, r.stdout + r.stderr).toBe(0);
  });

  it('every dashboard query parses as PromQL', async () => {
    const d = JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: { targets: { expr: string }[] }[] };
    const exprs = d.panels.flatMap((p) => p.targets.map((t) => t.expr.replaceAll('$instance', '.*')));
    const rules = [
      'groups:',
      '  - name: dashboard',
      '    rules:',
      ...exprs.flatMap((e, i) => [
        `      - record: dashboard:query_${String(i)}`,
        `        expr: ${JSON.stringify(e)}`,
      ]),
    ];
    writeFileSync(join(scratch, 'dashboard-rules.yml'), `${rules.join('\n')}\n`);
    const r = await run('promtool', ['check', 'rules', join(scratch, 'dashboard-rules.yml')]);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${String(exprs.length)} rules found`);
  });
});
