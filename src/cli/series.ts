//! `xnat-gateway series ls` and `quarantine ls`: the series list with the filters of GET /series.
import type { Config } from '../config/schema.ts';
import { openDb } from '../queue/db.ts';
import { createSeriesList } from '../queue/series-list.ts';
import { filtersFrom } from '../status/series-filters.ts';
import { seriesView, type SeriesView } from '../status/series-view.ts';
import { ExitCode } from './exit-codes.ts';
import { layoutFor } from '../spool/layout.ts';

export const SERIES_USAGE = `  xnat-gateway series ls [FILTERS] [--json] [--config FILE]
  xnat-gateway quarantine ls [FILTERS] [--json] [--config FILE]
      FILTERS: --state receiving|complete|delivered|failed  --route quarantined|hospital|released|waiting|unrouted
               --project P  --source dimse|folder  --sender AE|IP  --modality M  --from TIME  --to TIME
               --sort id|received|lastReceived|instances|modality|state|project  --order asc|desc  --limit N
      TIME: ISO 8601 (2025-03-01, 2025-03-01T08:00) or epoch ms. A table on a terminal, tab-separated
      lines otherwise, one JSON object per line with --json (times as epoch ms and ISO 8601).`;

export type SeriesValues = Partial<Record<'state' | 'route' | 'project' | 'source' | 'sender' | 'modality' | 'from' | 'to' | 'sort' | 'order' | 'limit', string>> & { json?: boolean | undefined };

const COLUMNS: readonly [string, (s: SeriesView) => string][] = [
  ['ID', (s) => String(s.id)],
  ['RECEIVED', (s) => s.firstInstanceAtIso.slice(0, 19).replace('T', ' ')],
  ['MODALITY', (s) => s.modality ?? '-'],
  ['INSTANCES', (s) => String(s.instanceCount)],
  ['STATE', (s) => (s.completesAtIso ? `${s.state} (completes ${s.completesAtIso.slice(11, 19)})` : s.state)],
  ['PROJECT', (s) => s.project ?? '-'],
  ['REASONS', (s) => s.reasons.map((r) => r.rule).join(',') || '-'],
  ['SENDERS', (s) => s.senders.join(',') || '-'],
  ['SERIES UID', (s) => s.seriesUid],
];

/** Rows as an aligned table (a terminal) or tab-separated lines with a header (pipes, scripts). */
export function formatTable(rows: readonly SeriesView[], aligned: boolean): string {
  const cells = [COLUMNS.map(([h]) => h), ...rows.map((r) => COLUMNS.map(([, f]) => f(r).replace(/[\t\n]/g, ' ')))];
  if (!aligned) {return cells.map((c) => c.join('\t')).join('\n');}
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** `series ls` (or `quarantine ls`: the same, fixed to route=quarantined). */
export function seriesCommand(cfg: Config, args: string[], values: SeriesValues, o: { quarantine: boolean }): void {
  if (args[0] !== 'ls' || args.length !== 1) {
    console.error(SERIES_USAGE);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const { json, ...filters } = values;
  const { query, problems } = filtersFrom({ limit: '500', ...filters }, o.quarantine ? { route: 'quarantined' } : {});
  if (problems.length || (values.limit !== undefined && String(query.limit) !== values.limit)) {
    console.error([...problems, ...(values.limit !== undefined && String(query.limit) !== values.limit ? ['--limit must be 1 to 500.'] : [])].join('\n'));
    console.error(SERIES_USAGE);
    process.exitCode = ExitCode.USAGE;
    return;
  }
  const db = openDb(layoutFor(cfg.dataDir).dbFile);
  try {
    const page = createSeriesList(db).page(query);
    const rows = page.items.map((i) => seriesView(i, cfg.series.quietPeriodMs));
    if (json) {
      for (const r of rows) {console.log(JSON.stringify(r));}
    } else {
      console.log(formatTable(rows, process.stdout.isTTY));
      if (process.stdout.isTTY) {console.log(`${String(rows.length)} of ${String(page.total)} series batches${page.total > rows.length ? ' (use --limit, --sort and filters to see others)' : ''}.`);}
    }
  } finally {
    db.close();
  }
}
