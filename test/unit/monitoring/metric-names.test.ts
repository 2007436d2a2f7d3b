// The shipped alert rules and Grafana dashboard use only metrics the gateway exposes (a renamed
// metric must fail here, not silently stop an alert).
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createEvents } from '../../../src/events.ts';
import { createMetrics } from '../../../src/status/metrics.ts';
import { parseExposition } from '../../helpers/exposition.ts';
import { fakeClock, tmpDb } from '../../helpers/queue-rows.ts';
import { createStats } from '../../../src/store/sqlite/stats.ts';
import { SOURCE_TYPES } from '../../../src/app/registry.ts';

const ALERTS = readFileSync(new URL('../../../docker/prometheus/alerts.yml', import.meta.url), 'utf8');
const DASHBOARD = JSON.parse(
  readFileSync(new URL('../../../docker/grafana/xnat-gateway.json', import.meta.url), 'utf8'),
) as {
  panels: { id: number; title: string; gridPos: unknown; datasource: { uid: string }; targets: { expr: string }[] }[];
};

/** Metric families in a full exposition (routing, circuits and PACS included). */
async function exposed(): Promise<Set<string>> {
  const { db, close } = tmpDb();
  try {
    const readiness = () =>
      Promise.resolve({
        receiverListening: true,
        dbWritable: true,
        diskFreeBytes: 1,
        diskMinFreeBytes: 1,
        backlogOk: true,
        reasons: [],
      });
    const m = createMetrics({
      sources: SOURCE_TYPES,
      events: createEvents(),
      stats: createStats(db, SOURCE_TYPES),
      clock: fakeClock(),
      readiness,
      routing: () => Promise.resolve({ waiting: 0, quarantined: 0, released: 0, reloadFailed: false }),
      circuits: () => [{ sink: 'x', state: 'closed' }],
      pacs: () => [{ name: 'p', up: true, circuitOpen: false }],
    });
    const { problems } = parseExposition(await m.render());
    expect(problems).toEqual([]);
    return new Set([...(await m.render()).matchAll(/^# TYPE (\S+) /gm)].map((x) => x[1] ?? ''));
  } finally {
    close();
  }
}

const used = (text: string): string[] =>
  [...new Set([...text.matchAll(/\bxnat_gateway_[a-z_]+\b/g)].map((m) => m[0]))].sort();

describe('monitoring files', () => {
  it('alert rules reference only exposed metrics', async () => {
    const names = await exposed();
    expect(used(ALERTS).filter((n) => !names.has(n))).toEqual([]);
    expect(used(ALERTS).length).toBeGreaterThan(8);
  });

  it('the dashboard references only exposed metrics, has unique panel ids and an importable data source', async () => {
    const names = await exposed();
    const exprs = DASHBOARD.panels.flatMap((p) => p.targets.map((t) => t.expr)).join('\n');
    expect(used(exprs).filter((n) => !names.has(n))).toEqual([]);
    const ids = DASHBOARD.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    for (const p of DASHBOARD.panels) {
      expect(p.datasource.uid, p.title).toBe('${DS_PROMETHEUS}');
      expect(p.gridPos, p.title).toBeDefined();
      expect(p.targets.length, p.title).toBeGreaterThan(0);
    }
  });
});
