//! GET /status: queue counts, receive rates, oldest pending work, per-sink health and disk headroom.
import type { FastifyInstance } from 'fastify';
import { ageSeconds, JOB_STATES, SERIES_STATES, SOURCES } from '../../queue/stats.ts';
import { isReady } from '../readiness.ts';
import type { RouteDeps } from '../server.ts';
import { bool, int, keyed, nullableInt, nullableNum, nullableStr, num, obj, str } from '../schemas.ts';

const jobCounts = keyed(JOB_STATES, int);

const statusSchema = obj({
  ready: bool,
  uptimeSeconds: num,
  series: keyed(SERIES_STATES, obj({ series: int, instances: int, bytes: int })),
  instances: obj({ total: int, bytes: int, bySource: keyed(SOURCES, obj({ instances: int, bytes: int })) }),
  rates: obj({ windowSeconds: int, bySource: keyed(SOURCES, obj({ instancesPerSecond: num, bytesPerSecond: num })) }),
  oldestPending: obj({ seriesId: nullableInt, seriesAgeSeconds: nullableNum, jobId: nullableInt, jobOverdueSeconds: nullableNum }),
  jobs: jobCounts,
  sinks: {
    type: 'array',
    items: obj({
      sink: str,
      jobs: jobCounts,
      lastSuccessAt: nullableInt,
      lastFailure: { anyOf: [{ type: 'null' }, obj({ at: int, code: nullableStr, error: nullableStr })] },
    }),
  },
  openAssociations: int,
  disk: obj({ freeBytes: int, minFreeBytes: int, headroomBytes: int }),
});

/** GET /status: one JSON document an operator (or docs/operations.md) reads top to bottom. */
export function registerStatusRoutes(app: FastifyInstance, deps: RouteDeps): void {
  app.get('/status', { schema: { response: { 200: statusSchema } } }, () => {
    const now = deps.clock.now();
    const r = deps.readiness();
    const bySource = deps.stats.sourceTotals();
    const oldest = deps.stats.oldestPending();
    const rates = deps.rates.snapshot();
    let total = 0;
    let bytes = 0;
    for (const s of SOURCES) {
      total += bySource[s].instances;
      bytes += bySource[s].bytes;
    }
    return {
      ready: isReady(r),
      uptimeSeconds: Math.max(0, (now - deps.startedAt) / 1000),
      series: deps.stats.seriesByState(),
      instances: { total, bytes, bySource },
      rates: { windowSeconds: rates.windowSeconds, bySource: rates.sources },
      oldestPending: {
        seriesId: oldest.seriesId,
        seriesAgeSeconds: ageSeconds(oldest.seriesFirstInstanceAt, now),
        jobId: oldest.jobId,
        // A job backing off has run_at in the future: it is pending but not overdue, hence 0.
        jobOverdueSeconds: ageSeconds(oldest.jobRunAt, now),
      },
      jobs: deps.stats.jobsByState(),
      sinks: deps.stats.sinks(),
      openAssociations: deps.stats.openAssociations(),
      disk: { freeBytes: r.diskFreeBytes, minFreeBytes: r.diskMinFreeBytes, headroomBytes: r.diskFreeBytes - r.diskMinFreeBytes },
    };
  });
}
