//! Release: an administrator sends a quarantined series to the hospital project (DASHER's "move
//! out of QUARANTINE", without editing XNAT by hand). Used by POST /series/:id/release and the CLI.
// The series is re-routed, not copied: its decision becomes hospital, and its delivery jobs are
// queued afresh, so the anonymise transform re-runs under the hospital project's key and labels.
// RT objects that went to quarantine only because they followed this series are released with it.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createAuditLog } from '../store/sqlite/audit.ts';
import { createOriginalsStore } from '../store/sqlite/originals.ts';
import type { JobStore } from '../store/jobs.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import type { RouteRecord, RouteStore } from '../store/routes.ts';
import type { ProjectTargets } from './route-writer.ts';

export interface ReleaseDeps {
  readonly db: Db;
  /** Checks and writes a release as one: nothing re-routes or discards the series in between. */
  readonly uow: UnitOfWork;
  readonly routes: RouteStore;
  readonly jobs: JobStore;
  readonly clock: Clock;
  readonly events?: DaemonEvents;
  readonly projects: ProjectTargets;
  readonly sinksFor: (project: string) => readonly string[];
  readonly maxAttempts: number;
}

export type ReleaseResult =
  | { readonly ok: true; readonly released: readonly number[]; readonly project: string }
  | { readonly ok: false; readonly status: 404 | 409; readonly message: string };

/** Releases series `seriesId` (and the RT objects grouped with it) to the hospital project. */
export async function releaseSeries(
  deps: ReleaseDeps,
  seriesId: number,
  by: string,
  note: string | null,
): Promise<ReleaseResult> {
  const project = deps.projects.hospitalProject;
  const released: number[] = [];
  try {
    // One unit of work: the checks, the route rows, the jobs queued again and the audit rows commit
    // together, and the job store's series.state events go out only after that COMMIT (never for a
    // refused release).
    const r = await deps.uow.run(() => release(deps, seriesId, by, note, released));
    for (const id of released) {
      deps.events?.emit('series.released', { seriesId: id, project, by });
    }
    return r;
  } catch (err) {
    if (err instanceof ReleaseRefused) {
      return { ok: false, status: 409, message: err.message };
    }
    throw err;
  }
}

/** The checks and writes of a release, in the caller's unit of work; `released` gets the series ids. */
async function release(
  deps: ReleaseDeps,
  seriesId: number,
  by: string,
  note: string | null,
  released: number[],
): Promise<ReleaseResult> {
  const { routes, jobs, clock } = deps;
  const project = deps.projects.hospitalProject;
  const route = await routes.get(seriesId);
  if (!route) {
    return {
      ok: false,
      status: 404,
      message: `Series ${String(seriesId)} has no routing decision (not complete yet, or unknown).`,
    };
  }
  if (route.target !== 'quarantine') {
    return {
      ok: false,
      status: 409,
      message: `Series ${String(seriesId)} is not quarantined; it goes to ${route.project}.`,
    };
  }
  const originals = await createOriginalsStore(deps.db).get(seriesId);
  const gone = originals && originals.state !== 'retained' ? originals.state : null;
  if (gone) {
    return {
      ok: false,
      status: 409,
      message: `Series ${String(seriesId)} cannot be released: its original files were ${gone}.`,
    };
  }
  const followers = (await routes.grouped(seriesId)).filter(
    (r) => r.target === 'quarantine' && r.reasons.some((x) => x.rule === 'rt:follows-images'),
  );
  const audit = createAuditLog(deps.db);
  const now = clock.now();
  for (const r of [route, ...followers]) {
    const next: RouteRecord = {
      ...r,
      state: 'routed',
      target: 'hospital',
      project,
      routedAt: now,
      waitUntil: null,
      releasedAt: now,
      releasedBy: by,
      reasons: [
        ...r.reasons,
        {
          rule: 'release',
          source: 'release',
          message: `Released to ${project} by ${by}${note ? `: ${note}` : ''}.`,
          instances: 0,
        },
      ],
    };
    await routes.put(next);
    // A waiting RT object has no jobs yet; a routed one has jobs to queue again.
    if ((await jobs.redeliver(r.seriesId, deps.sinksFor(project), deps.maxAttempts)) === null) {
      throw new ReleaseRefused(
        `A delivery of series ${String(r.seriesId)} is running; release it again when it has finished.`,
      );
    }
    await audit.record(
      'series.released',
      r.seriesId,
      {
        by,
        from: r.project,
        to: project,
        note,
        withSeriesId: r.seriesId === seriesId ? null : seriesId,
      },
      now,
    );
    released.push(r.seriesId);
  }
  return { ok: true, released, project };
}

class ReleaseRefused extends Error {
  override readonly name = 'ReleaseRefused';
}
