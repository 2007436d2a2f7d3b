//! What the pull source's registry entry builds it from: its ledger, what the gateway's tables say of a pulled study, and XNAT's count.
// The pull source (src/sources/pull/) knows neither the store nor XNAT's client; this composition
// root lends them: the SQLite ledger, the progress view over the spool's and jobs' tables, and a
// re-check in XNAT over the REST access of each sink that delivered the series.
import { restAccessOf } from '../config/sinks.ts';
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Deliveries } from '../sources/pull/ports.ts';
import type { PullDeps } from '../sources/pull/index.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createPullProgress } from '../store/sqlite/pull-progress.ts';
import { createSqlitePullLedger } from '../store/sqlite/pulls.ts';
import { createXnatClient } from '../xnat/client.ts';
import { createVerifier } from '../xnat/verify.ts';
import type { VerifySession } from '../xnat/verify-types.ts';
import { sinkIds } from './compose-sinks.ts';

/**
 * Each XNAT sink's way of counting in its XNAT, by sink id: an xnat-rest sink's own REST access,
 * an xnat-dimse sink's `verifyWith` (src/config/sinks.ts); null for a sink nothing can ask. With
 * two XNATs, a series delivered to B is counted in B: asking A would find it missing.
 */
function verifiersBySink(sinks: Config['sinks'], log: Logger): Map<string, VerifySession | null> {
  const ids = sinkIds({ sinks });
  const byRest = new Map<number, VerifySession>();
  const out = new Map<string, VerifySession | null>();
  for (const [i, rest] of restAccessOf({ sinks })) {
    const r = rest === null ? undefined : sinks[rest];
    if (rest === null || r?.type !== 'xnat-rest') {
      out.set(ids[i] ?? '', null);
      continue;
    }
    let verify = byRest.get(rest);
    if (!verify) {
      verify = createVerifier(createXnatClient(r, log.child({ component: `xnat-client:pull:${ids[rest] ?? ''}` })));
      byRest.set(rest, verify);
    }
    out.set(ids[i] ?? '', verify);
  }
  return out;
}

/**
 * The pull's stores and views. Delivery is read from the jobs of the sinks that deliver to XNAT;
 * a delivered series is counted again in every XNAT a sink delivered it to, and XNAT holds what
 * the smallest count says.
 */
export function composePullDeps(sinks: Config['sinks'], db: Db, log: Logger): PullDeps {
  const verifiers = verifiersBySink(sinks, log);
  const progress = createPullProgress(db, [...verifiers.keys()]);
  const deliveries: Deliveries = {
    async ofSeries(study, series) {
      return {
        ...(await progress.delivery(study, series)),
        session: (await progress.deliveredAs(study, series))?.session ?? null,
      };
    },
    async recheck(s, signal) {
      const as = await progress.deliveredAs(s.studyInstanceUid, s.seriesInstanceUid);
      if (!as || as.sinks.length === 0) {
        return null;
      }
      const labels = { project: as.project, subject: as.subject, session: as.session };
      let found: number | null = Number.POSITIVE_INFINITY;
      let uri: string | null = null;
      for (const sink of as.sinks) {
        const verify = verifiers.get(sink);
        if (!verify) {
          // An XNAT nothing can ask (a C-STORE sink without a REST access): its count is unknown.
          return null;
        }
        const v = await verify(
          {
            labels,
            studyInstanceUid: as.studyInstanceUid,
            seriesInstanceUid: as.seriesInstanceUid,
            instances: s.delivered,
            scanId: s.seriesNumber,
          },
          signal,
        );
        uri ??= v.uri;
        const n = v.ok === 'pending' ? null : v.found;
        found = n === null || found === null ? null : Math.min(found, n);
      }
      return { found, session: as.session, uri };
    },
  };
  return {
    ledger: createSqlitePullLedger(db),
    progress,
    deliveries,
    verifies: verifiers.size > 0,
  };
}
