//! The filtered, sorted, paged series list behind GET /series, the console and `series ls`.
// Filters combine freely, so the SQL is assembled from fixed fragments (never from input text: every
// value is a bound parameter) and each distinct statement is prepared once and cached. Only ids,
// UIDs, AE titles, peer IPs, projects, rule ids and times are selected: no patient data.
import type { RouteFilter, SeriesSort, SeriesFilter, SeriesListItem, SeriesList } from '../series-list.ts';
import type { Sync } from '../unit-of-work.ts';
import { serialised } from './turns.ts';
import type { Db } from './db.ts';
import type { Statement } from 'better-sqlite3';
import { seriesColumns, toSummary, type SeriesRow } from './series-row.ts';

const MAX_PAGE = 500;
const ASSOC = 'FROM series_associations sa JOIN associations a ON a.id = sa.association_id WHERE sa.series_id = s.id';
const COLS = `${seriesColumns('s')},
  r.project, r.target, r.state AS route_state, r.released_at, r.reasons,
  (SELECT json_group_array(DISTINCT a.calling_ae) ${ASSOC}) AS senders,
  (SELECT json_group_array(DISTINCT a.source) ${ASSOC}) AS sources,
  (SELECT count(*) ${ASSOC} AND a.closed_at IS NULL) AS open_associations`;
const FROM = 'FROM series s LEFT JOIN series_routes r ON r.series_id = s.id';

const ROUTE_SQL: Record<RouteFilter, string> = {
  quarantined:
    "r.state = 'routed' AND r.target = 'quarantine' AND NOT EXISTS (SELECT 1 FROM spool_originals o WHERE o.series_id = s.id AND o.state = 'discarded')",
  hospital: "r.state = 'routed' AND r.target = 'hospital'",
  released: 'r.released_at IS NOT NULL',
  waiting: "r.state = 'waiting'",
  unrouted: 'r.series_id IS NULL',
};
const SORT_SQL: Record<SeriesSort, string> = {
  id: 's.id',
  received: 's.first_instance_at',
  lastReceived: 's.last_instance_at',
  instances: 's.instance_count',
  modality: 's.modality',
  state: 's.state',
  project: 'r.project',
};

interface Row extends SeriesRow {
  project: string | null;
  target: 'hospital' | 'quarantine' | null;
  route_state: 'waiting' | 'routed' | null;
  released_at: number | null;
  reasons: string | null;
  senders: string;
  sources: string;
  open_associations: number;
}

/** The WHERE clause and its named parameters for `f`. */
export function whereOf(f: SeriesFilter): { sql: string; params: Record<string, string | number> } {
  const parts: string[] = [];
  const params: Record<string, string | number> = {};
  if (f.state) {
    parts.push('s.state = @state');
    params.state = f.state;
  }
  if (f.route) {
    parts.push(ROUTE_SQL[f.route]);
  }
  if (f.project) {
    parts.push('r.project = @project');
    params.project = f.project;
  }
  if (f.source) {
    parts.push(`EXISTS (SELECT 1 ${ASSOC} AND a.source = @source)`);
    params.source = f.source;
  }
  if (f.sender) {
    parts.push(`EXISTS (SELECT 1 ${ASSOC} AND (a.calling_ae = @sender COLLATE NOCASE OR a.peer_ip = @sender))`);
    params.sender = f.sender.trim();
  }
  if (f.modality) {
    parts.push('s.modality = @modality COLLATE NOCASE');
    params.modality = f.modality.trim();
  }
  if (f.from !== undefined) {
    parts.push('s.last_instance_at >= @from');
    params.from = f.from;
  }
  if (f.to !== undefined) {
    parts.push('s.first_instance_at < @to');
    params.to = f.to;
  }
  return { sql: parts.length ? `WHERE ${parts.join(' AND ')}` : '', params };
}

function parseArray(text: string): string[] {
  const v = JSON.parse(text) as unknown;
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function reasonsOf(text: string | null): { rule: string; message: string }[] {
  if (text === null) {
    return [];
  }
  const v = JSON.parse(text) as { rule?: unknown; message?: unknown }[];
  return v.map((r) => ({ rule: String(r.rule), message: String(r.message) }));
}

function toItem(r: Row): SeriesListItem {
  return {
    ...toSummary(r),
    project: r.project,
    target: r.target,
    routeState: r.route_state,
    releasedAt: r.released_at,
    reasons: reasonsOf(r.reasons),
    senders: parseArray(r.senders),
    sources: parseArray(r.sources),
    openAssociations: r.open_associations,
  };
}

export function seriesListSync(db: Db): Sync<SeriesList> {
  const cache = new Map<string, Statement>();
  const prepared = (sql: string): Statement => {
    let st = cache.get(sql);
    if (!st) {
      cache.set(sql, (st = db.prepare(sql)));
    }
    return st;
  };
  const byIds = db.prepare<[string], Row>(
    `SELECT ${COLS} ${FROM} JOIN json_each(?) j ON j.value = s.id ORDER BY s.id DESC`,
  );
  return {
    page(q) {
      const limit = Math.min(Math.max(Math.trunc(q.limit), 1), MAX_PAGE);
      const offset = Math.max(0, Math.trunc(q.offset ?? 0));
      const sort = q.sort ?? 'id';
      const order = q.order ?? 'desc';
      const where = whereOf(q);
      const total = (prepared(`SELECT count(*) AS n ${FROM} ${where.sql}`).get(where.params) as { n: number }).n;
      // The cursor applies to the default order only (newest first), as it did before sorting existed.
      const cursor = sort === 'id' && order === 'desc' && q.before !== undefined;
      const cond = cursor ? `${where.sql ? `${where.sql} AND` : 'WHERE'} s.id < @before` : where.sql;
      // Ties are broken by id so pages never overlap; NULLs (unrouted project) sort last either way.
      const orderBy = `${SORT_SQL[sort]} IS NULL, ${SORT_SQL[sort]} ${order === 'asc' ? 'ASC' : 'DESC'}, s.id ${order === 'asc' ? 'ASC' : 'DESC'}`;
      const rows = prepared(`SELECT ${COLS} ${FROM} ${cond} ORDER BY ${orderBy} LIMIT @limit OFFSET @offset`).all({
        ...where.params,
        ...(cursor ? { before: q.before } : {}),
        limit: limit + 1,
        offset,
      }) as Row[];
      const items = rows.slice(0, limit).map(toItem);
      const more = rows.length > limit;
      const last = items.at(-1);
      return {
        items,
        total,
        nextOffset: more ? offset + limit : null,
        nextBefore: more && sort === 'id' && order === 'desc' && last ? last.id : null,
      };
    },
    byIds: (ids) => (ids.length ? byIds.all(JSON.stringify(ids)).map(toItem) : []),
  };
}

/** The async SeriesList over SQLite: each call waits its turn on the connection (turns.ts). */
export function createSeriesList(db: Db): SeriesList {
  return serialised<SeriesList>(db, seriesListSync(db));
}
