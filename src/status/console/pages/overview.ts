//! The overview: sources, pipeline counts, oldest pending work, disk, sinks, rules and recent problems.
import type { FastifyInstance } from 'fastify';
import { ageSeconds, SERIES_STATES, JOB_STATES } from '../../../store/sqlite/stats.ts';
import { isReady } from '../../readiness.ts';
import type { RouteDeps } from '../../server.ts';
import type { ConsoleDeps } from '../types.ts';
import type { Renderer } from '../render.ts';

/** Everything the overview shows, read once per request (cheap queries and in-memory state). */
export function overviewModel(deps: RouteDeps, c: ConsoleDeps): Record<string, unknown> {
  const now = deps.clock.now();
  const r = deps.readiness();
  const oldest = deps.stats.oldestPending();
  const folder = deps.importFolder?.() ?? null;
  const src = c.sources();
  return {
    now,
    ready: isReady(r),
    reasons: r.reasons,
    dimse: src.dimse,
    folderCfg: src.folder,
    openAssociations: deps.stats.openAssociations(),
    rates: deps.rates.snapshot(),
    folder: folder && {
      mode: folder.mode,
      lastScanAt: folder.lastScanAt,
      waiting: folder.waiting.map((w) => ({ ...w, unchangedMs: now - w.lastChangeAt })),
      reading: folder.reading,
      releasing: folder.releasing,
    },
    seriesStates: SERIES_STATES,
    series: deps.stats.seriesByState(),
    jobStates: JOB_STATES,
    jobs: deps.stats.jobsByState(),
    routing: deps.routing ? { ...deps.routing.counts(), rules: deps.routing.rules() } : null,
    oldest: {
      seriesId: oldest.seriesId,
      seriesAgeMs: (ageSeconds(oldest.seriesFirstInstanceAt, now) ?? 0) * 1000,
      jobId: oldest.jobId,
      jobOverdueMs: (ageSeconds(oldest.jobRunAt, now) ?? 0) * 1000,
    },
    disk: { free: r.diskFreeBytes, min: r.diskMinFreeBytes, headroom: r.diskFreeBytes - r.diskMinFreeBytes },
    sinks: sinksModel(deps),
    problems: c.problems().slice(0, 15),
  };
}

function sinksModel(deps: RouteDeps): Record<string, unknown>[] {
  const rows = deps.stats.sinks();
  const circuits = deps.circuits?.() ?? [];
  const names = [...new Set([...circuits.map((x) => x.sink), ...rows.map((x) => x.sink)])];
  return names.map((sink) => ({
    sink,
    stats: rows.find((x) => x.sink === sink) ?? null,
    circuit: circuits.find((x) => x.sink === sink) ?? null,
  }));
}

export function registerOverview(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  app.get<{ Querystring: { fragment?: string } }>('/console', (req, reply) => {
    const model = overviewModel(deps, c);
    if (req.query.fragment === 'live') {
      return view.fragment(reply, 'overview-live', model);
    }
    return view.page(req, reply, 'overview', { title: 'Overview', active: 'overview' }, model);
  });
}
