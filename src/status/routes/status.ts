//! GET /status: queue counts, receive rates, oldest pending work, per-sink health and disk headroom.
import type { Lifecycle } from '../../contracts/lifecycle.ts';
import type { FastifyInstance } from 'fastify';
import { ageSeconds } from '../../store/sqlite/stats.ts';
import { JOB_STATES, SERIES_STATES } from '../../store/stats.ts';
import { isReady } from '../readiness.ts';
import type { RouteDeps } from '../deps.ts';
import { rulesSchema } from './routing.ts';
import { deliverySchema } from './health.ts';
import { spoolSchema, spoolStatus } from './spool.ts';
import { bool, int, keyed, nullableInt, nullableNum, nullableStr, num, obj, str } from '../schemas.ts';

const jobCounts = keyed(JOB_STATES, int);

const statusSchema = (sources: readonly string[]): ReturnType<typeof obj> =>
  obj({
    ready: bool,
    // degraded: jobs fail for a reason no retry can fix (docs/operations.md); receiving goes on.
    delivery: deliverySchema,
    uptimeSeconds: num,
    series: keyed(SERIES_STATES, obj({ series: int, instances: int, bytes: int })),
    instances: obj({ total: int, bytes: int, bySource: keyed(sources, obj({ instances: int, bytes: int })) }),
    rates: obj({ windowSeconds: int, bySource: keyed(sources, obj({ instancesPerSecond: num, bytesPerSecond: num })) }),
    oldestPending: obj({
      seriesId: nullableInt,
      seriesAgeSeconds: nullableNum,
      jobId: nullableInt,
      jobOverdueSeconds: nullableNum,
    }),
    jobs: jobCounts,
    // Each running source's lifecycle view (src/contracts/lifecycle.ts): ready() and describe().
    sources: {
      type: 'array',
      items: obj({
        type: str,
        id: str,
        ready: bool,
        reason: nullableStr,
        detail: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
      }),
    },
    transforms: {
      type: 'array',
      items: obj({
        type: str,
        id: str,
        ready: bool,
        reason: nullableStr,
        detail: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
      }),
    },
    sinks: {
      type: 'array',
      items: withOptional(
        obj({
          sink: str,
          jobs: jobCounts,
          lastSuccessAt: nullableInt,
          lastFailure: { anyOf: [{ type: 'null' }, obj({ at: int, code: nullableStr, error: nullableStr })] },
          // open: the target is failing, its jobs wait for the next probe (one at a time); see ERR_SINK_CIRCUIT_OPEN.
          circuit: {
            anyOf: [
              { type: 'null' },
              obj({
                state: { type: 'string', enum: ['closed', 'open', 'half-open'] },
                consecutiveFailures: int,
                openedAt: nullableInt,
                nextProbeAt: nullableInt,
                lastError: nullableStr,
                lastCode: nullableStr,
              }),
            ],
          },
        }),
        // The sink's lifecycle view (src/contracts/sink-lifecycle.ts): absent only in bare tests.
        {
          type: str,
          ready: bool,
          reason: nullableStr,
          detail: { type: 'object', additionalProperties: { type: ['string', 'number', 'boolean', 'null'] } },
        },
      ),
    },
    openAssociations: int,
    routing: {
      anyOf: [{ type: 'null' }, obj({ rules: rulesSchema, waiting: int, quarantined: int, released: int })],
    },
    disk: obj({ freeBytes: int, minFreeBytes: int, headroomBytes: int }),
    // What the spool holds and why (awaiting delivery, quarantined, failed, kept copies…); null in bare tests.
    spool: { anyOf: [{ type: 'null' }, spoolSchema] },
    importFolder: {
      anyOf: [
        { type: 'null' },
        obj({
          path: str,
          mode: str,
          lastScanAt: nullableInt,
          waiting: {
            type: 'array',
            items: obj({ kind: str, files: int, bytes: int, firstSeenAt: int, lastChangeAt: int, waitingFor: str }),
          },
          reading: {
            type: 'array',
            items: obj({ dropId: int, total: int, done: int, spooled: int, rejected: int, ignored: int }),
          },
          releaseRetrying: { type: 'array', items: int },
          recent: {
            type: 'array',
            items: obj({
              dropId: int,
              kind: str,
              state: str,
              files: int,
              spooled: int,
              rejected: int,
              ignored: int,
              startedAt: int,
              releasedAt: nullableInt,
            }),
          },
        }),
      ],
    },
  });

/** GET /status: one JSON document an operator (or docs/operations.md) reads top to bottom. */
export function registerStatusRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get('/status', { schema: { response: { 200: statusSchema(deps.sources) } } }, async () => {
    const now = deps.clock.now();
    const r = await deps.readiness();
    const bySource = await deps.stats.sourceTotals();
    const oldest = await deps.stats.oldestPending();
    const rates = deps.rates.snapshot();
    let total = 0;
    let bytes = 0;
    for (const s of Object.values(bySource)) {
      total += s.instances;
      bytes += s.bytes;
    }
    return {
      ready: isReady(r),
      delivery: deps.delivery?.() ?? { status: 'ok', reasons: [] },
      uptimeSeconds: Math.max(0, (now - deps.startedAt) / 1000),
      series: await deps.stats.seriesByState(),
      instances: { total, bytes, bySource },
      rates: { windowSeconds: rates.windowSeconds, bySource: rates.sources },
      oldestPending: {
        seriesId: oldest.seriesId,
        seriesAgeSeconds: ageSeconds(oldest.seriesFirstInstanceAt, now),
        jobId: oldest.jobId,
        // A job backing off has run_at in the future: it is pending but not overdue, hence 0.
        jobOverdueSeconds: ageSeconds(oldest.jobRunAt, now),
      },
      jobs: await deps.stats.jobsByState(),
      sources: (deps.components?.() ?? []).map(lifecycleView),
      transforms: (deps.transformComponents?.() ?? []).map(lifecycleView),
      sinks: await withCircuits(deps),
      openAssociations: await deps.stats.openAssociations(),
      // A bad rules edit keeps the previous rules; rules.lastError says so until it is fixed.
      routing: deps.routing ? { rules: deps.routing.rules(), ...(await deps.routing.counts()) } : null,
      disk: {
        freeBytes: r.diskFreeBytes,
        minFreeBytes: r.diskMinFreeBytes,
        headroomBytes: r.diskFreeBytes - r.diskMinFreeBytes,
      },
      spool: await spoolStatus(deps),
      importFolder: await importFolder(deps),
    };
  });
}

/** The import folder's drops by id and counts only: drop names are chosen by staff and may name a patient. */
async function importFolder(deps: RouteDeps): Promise<unknown> {
  const f = await deps.importFolder?.();
  if (!f) {
    return null;
  }
  return {
    path: f.root,
    mode: f.mode,
    lastScanAt: f.lastScanAt,
    waiting: f.waiting.map((w) => ({
      kind: w.kind,
      files: w.files,
      bytes: w.bytes,
      firstSeenAt: w.firstSeenAt,
      lastChangeAt: w.lastChangeAt,
      waitingFor: w.waitingFor,
    })),
    reading: f.reading,
    releaseRetrying: f.releasing,
    recent: f.recent.map((d) => ({
      dropId: d.id,
      kind: d.kind,
      state: d.state,
      files: d.filesTotal,
      spooled: d.filesSpooled,
      rejected: d.filesRejected,
      ignored: d.filesIgnored,
      startedAt: d.startedAt,
      releasedAt: d.releasedAt,
    })),
  };
}

/** Job counts per sink, with each configured sink's circuit breaker (sinks without jobs too). */
/** A component's lifecycle view as /status lists it (src/contracts/lifecycle.ts). */
function lifecycleView(c: Lifecycle<never>): Record<string, unknown> {
  const ready = c.ready();
  return { type: c.type, id: c.id, ready: ready.ready, reason: ready.reason ?? null, detail: c.describe() };
}

/** `base` with `extra` allowed but not required. */
function withOptional<T extends { properties: Record<string, unknown> }>(base: T, extra: Record<string, unknown>): T {
  return { ...base, properties: { ...base.properties, ...extra } };
}

async function withCircuits(deps: RouteDeps): Promise<unknown[]> {
  const rows = await deps.stats.sinks();
  const circuits = deps.circuits?.() ?? [];
  const out: Record<string, unknown>[] = rows.map((r) => ({ ...r, circuit: null }));
  // Each sink's lifecycle view: its target (no secrets) and its health as last seen.
  for (const c of deps.sinkComponents?.() ?? []) {
    const r = c.ready();
    const view = { type: c.type, ready: r.ready, reason: r.reason ?? null, detail: c.describe() };
    const row = out.find((x) => x.sink === c.id);
    if (row) {
      Object.assign(row, view);
    } else {
      out.push({
        sink: c.id,
        jobs: Object.fromEntries(JOB_STATES.map((s) => [s, 0])),
        lastSuccessAt: null,
        lastFailure: null,
        circuit: null,
        ...view,
      });
    }
  }
  for (const c of circuits) {
    const { sink, ...circuit } = c;
    const row = out.find((r) => r.sink === sink);
    if (row) {
      row.circuit = circuit;
    } else {
      out.push({
        sink,
        jobs: Object.fromEntries(JOB_STATES.map((s) => [s, 0])),
        lastSuccessAt: null,
        lastFailure: null,
        circuit,
      });
    }
  }
  return out;
}
