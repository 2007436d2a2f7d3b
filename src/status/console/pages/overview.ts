//! The overview: sources, pipeline counts, oldest pending work, disk and spool, sinks and delivery health, rules and recent problems.
import type { FastifyInstance } from 'fastify';
import { HOLDING_REASONS, type HoldingReason } from '../../../store/originals.ts';
import { ageSeconds } from '../../../store/sqlite/stats.ts';
import { SERIES_STATES, JOB_STATES } from '../../../store/stats.ts';
import { isReady } from '../../readiness.ts';
import type { RouteDeps } from '../../deps.ts';
import type { ConsoleDeps } from '../types.ts';
import type { Renderer } from '../render.ts';

/** Everything the overview shows, read once per request (cheap queries and in-memory state). */
export async function overviewModel(deps: RouteDeps, c: ConsoleDeps): Promise<Record<string, unknown>> {
  const now = deps.clock.now();
  const r = await deps.readiness();
  const oldest = await deps.stats.oldestPending();
  const folder = (await deps.importFolder?.()) ?? null;
  const src = c.sources();
  return {
    now,
    ready: isReady(r),
    reasons: r.reasons,
    sourceCards: sourceCards(deps),
    folderCfg: src.folder,
    openAssociations: await deps.stats.openAssociations(),
    rates: deps.rates.snapshot(),
    folder: folder && {
      mode: folder.mode,
      lastScanAt: folder.lastScanAt,
      waiting: folder.waiting.map((w) => ({ ...w, unchangedMs: now - w.lastChangeAt })),
      reading: folder.reading,
      releasing: folder.releasing,
    },
    seriesStates: SERIES_STATES,
    series: await deps.stats.seriesByState(),
    jobStates: JOB_STATES,
    jobs: await deps.stats.jobsByState(),
    routing: deps.routing ? { ...(await deps.routing.counts()), rules: deps.routing.rules() } : null,
    oldest: {
      seriesId: oldest.seriesId,
      seriesAgeMs: (ageSeconds(oldest.seriesFirstInstanceAt, now) ?? 0) * 1000,
      jobId: oldest.jobId,
      jobOverdueMs: (ageSeconds(oldest.jobRunAt, now) ?? 0) * 1000,
    },
    disk: { free: r.diskFreeBytes, min: r.diskMinFreeBytes, headroom: r.diskFreeBytes - r.diskMinFreeBytes },
    spool: await spoolModel(deps),
    delivery: deps.delivery?.() ?? null,
    sinks: await sinksModel(deps),
    problems: c.problems().slice(0, 15),
  };
}

/**
 * One card per running source, in registry order, from its lifecycle view (ready() and
 * describe()): a source added to the registry shows here without a change to the console.
 */
function sourceCards(deps: RouteDeps): Record<string, unknown>[] {
  const rates = deps.rates.snapshot();
  return (deps.components?.() ?? []).map((c) => {
    const r = c.ready();
    return {
      type: c.type,
      id: c.id,
      title: deps.sourceTitles?.[c.type] ?? c.type,
      ready: r.ready,
      reason: r.reason ?? null,
      detail: Object.entries(c.describe()).map(([k, v]) => ({ name: detailName(k), value: v })),
      rate: rates.sources[c.type] ?? null,
      windowSeconds: rates.windowSeconds,
    };
  });
}

/** `aeTitle` → "AE title", `stableMs` → "stable (ms)": a describe() key as a person reads it. */
export function detailName(key: string): string {
  const words = key
    .replace(/Ms$/, ' (ms)')
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .toLowerCase()
    .replace(/^ae /, 'AE ')
    .replace(/\bae\b/g, 'AE');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** Why the spool holds what it holds (/status spool.holding), in words, with where to act. */
const HOLDING_LABELS: Record<HoldingReason, { label: string; href: string | null }> = {
  receiving: { label: 'Receiving', href: '/console/series?state=receiving' },
  awaitingDelivery: { label: 'Awaiting delivery', href: '/console/series?state=complete' },
  waitingForImages: { label: 'RT objects waiting for their images', href: '/console/series?route=waiting' },
  quarantined: { label: 'Quarantined (release or discard)', href: '/console/quarantine' },
  failed: { label: 'Failed (requeue or discard)', href: '/console/series?state=failed' },
  deliveredToRemove: { label: 'Delivered, to be removed', href: null },
  retained: { label: 'Kept copies (spool.retainDelivered)', href: null },
  removing: { label: 'Being removed', href: null },
};

async function spoolModel(deps: RouteDeps): Promise<Record<string, unknown> | null> {
  const s = deps.spool;
  if (!s) {
    return null;
  }
  const h = await s.holdings();
  const rows = HOLDING_REASONS.filter((k) => h[k].series > 0).map((k) => ({
    reason: k,
    ...HOLDING_LABELS[k],
    ...h[k],
  }));
  return { rows, retainDelivered: s.retainDelivered };
}

async function sinksModel(deps: RouteDeps): Promise<Record<string, unknown>[]> {
  const rows = await deps.stats.sinks();
  const circuits = deps.circuits?.() ?? [];
  const degraded = deps.delivery?.().reasons ?? [];
  const names = [
    ...new Set([...circuits.map((x) => x.sink), ...rows.map((x) => x.sink), ...degraded.map((x) => x.sink)]),
  ];
  return names.map((sink) => ({
    sink,
    stats: rows.find((x) => x.sink === sink) ?? null,
    circuit: circuits.find((x) => x.sink === sink) ?? null,
    degraded: degraded.find((x) => x.sink === sink) ?? null,
  }));
}

export function registerOverview(app: FastifyInstance, deps: RouteDeps, c: ConsoleDeps, view: Renderer): void {
  app.get<{ Querystring: { fragment?: string } }>('/console', async (req, reply) => {
    const model = await overviewModel(deps, c);
    if (req.query.fragment === 'live') {
      return view.fragment(reply, 'overview-live', model);
    }
    return view.page(req, reply, 'overview', { title: 'Overview', active: 'overview' }, model);
  });
}
