//! `xnat-gateway series ls` and `quarantine ls`: the series list with the filters of GET /series.
import { createSeriesList } from '../store/sqlite/series-list.ts';
import { SOURCE_TYPES } from '../app/registry.ts';
import { filtersFrom } from '../status/series-filters.ts';
import { seriesView, type SeriesView } from '../status/series-view.ts';
import { CONFIG_EXIT, CONFIG_OPTION, expectArgs, usageError, type CommandSpec, type OptionSpec } from './command.ts';
import { ExitCode } from './exit-codes.ts';
import { openExistingDb } from './queue.ts';

export type SeriesValues = Partial<
  Record<
    'state' | 'route' | 'project' | 'source' | 'sender' | 'modality' | 'from' | 'to' | 'sort' | 'order' | 'limit',
    string
  >
> & { json?: boolean | undefined };

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
  if (!aligned) {
    return cells.map((c) => c.join('\t')).join('\n');
  }
  const widths = COLUMNS.map((_, i) => Math.max(...cells.map((c) => (c[i] ?? '').length)));
  return cells.map((c) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i] ?? 0))).join('  ')).join('\n');
}

/** The filters of GET /series, as options (checked by filtersFrom, which names the accepted values). */
const FILTER_OPTIONS: Readonly<Record<string, OptionSpec>> = {
  state: { type: 'string', value: 'S', description: 'receiving, complete, delivered or failed' },
  route: { type: 'string', value: 'R', description: 'quarantined, hospital, released, waiting or unrouted' },
  project: { type: 'string', value: 'P', description: 'target XNAT project' },
  source: { type: 'string', value: 'SRC', description: 'dimse or folder' },
  sender: { type: 'string', value: 'AE|IP', description: 'calling AE title or peer address' },
  modality: { type: 'string', value: 'M', description: 'modality, e.g. CT' },
  from: {
    type: 'string',
    value: 'TIME',
    description: 'first received at or after (ISO 8601, e.g. 2025-03-01T08:00, or epoch ms)',
  },
  to: { type: 'string', value: 'TIME', description: 'first received before' },
  sort: {
    type: 'string',
    value: 'KEY',
    description: 'id, received, lastReceived, instances, modality, state or project',
  },
  order: { type: 'string', value: 'asc|desc', description: 'sort order', choices: ['asc', 'desc'] },
  limit: { type: 'string', value: 'N', description: 'at most N rows, 1 to 500 (default 500)' },
  json: { type: 'boolean', description: 'one JSON object per line (times as epoch ms and ISO 8601)' },
  config: CONFIG_OPTION,
};

async function listSeries(
  spec: CommandSpec,
  input: Parameters<CommandSpec['run']>[0],
  o: { quarantine: boolean },
): Promise<void> {
  const [verb, ...args] = input.positionals;
  if (verb !== 'ls') {
    throw usageError(spec, verb === undefined ? 'missing ls.' : `unknown ${spec.name} command "${verb}".`);
  }
  expectArgs(spec, args, 0, 'no arguments');
  const { json, ...rest } = input.values;
  const filters: Record<string, string> = {};
  for (const [k, v] of Object.entries(rest)) {
    if (typeof v === 'string' && k !== 'config') {
      filters[k] = v;
    }
  }
  const { query, problems } = filtersFrom(
    { limit: '500', ...filters },
    o.quarantine ? { route: 'quarantined' } : {},
    SOURCE_TYPES,
  );
  if (filters.limit !== undefined && String(query.limit) !== filters.limit) {
    problems.push('--limit must be 1 to 500.');
  }
  if (problems.length) {
    throw usageError(spec, problems.join(' '));
  }
  const cfg = input.config();
  const db = openExistingDb(cfg);
  try {
    const page = await createSeriesList(db).page(query);
    const rows = page.items.map((i) => seriesView(i, cfg.series.quietPeriodMs));
    if (json === true) {
      for (const r of rows) {
        console.log(JSON.stringify(r));
      }
    } else {
      console.log(formatTable(rows, process.stdout.isTTY));
      if (process.stdout.isTTY) {
        console.log(
          `${String(rows.length)} of ${String(page.total)} series batches${page.total > rows.length ? ' (use --limit, --sort and filters to see others)' : ''}.`,
        );
      }
    }
  } finally {
    db.close();
  }
}

const EXITS = [{ code: ExitCode.NOINPUT, when: 'no gateway database' }, CONFIG_EXIT];

export const SERIES_COMMAND: CommandSpec = {
  name: 'series',
  summary: 'list series batches with the filters of GET /series',
  usage: ['series ls [FILTERS] [--json] [--config FILE]'],
  details:
    'A table on a terminal, tab-separated lines otherwise, one JSON object per line with --json. Safe while the daemon runs.',
  options: FILTER_OPTIONS,
  exitCodes: EXITS,
  async run(input) {
    await listSeries(SERIES_COMMAND, input, { quarantine: false });
  },
};

export const QUARANTINE_COMMAND: CommandSpec = {
  name: 'quarantine',
  summary: 'list quarantined series batches with their reasons',
  usage: ['quarantine ls [FILTERS] [--json] [--config FILE]'],
  details: 'The same as `series ls --route quarantined`; release one with `xnat-gateway release ID --by NAME`.',
  options: FILTER_OPTIONS,
  exitCodes: EXITS,
  async run(input) {
    await listSeries(QUARANTINE_COMMAND, input, { quarantine: true });
  },
};
