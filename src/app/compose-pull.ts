//! What the pull source's registry entry builds it from: its ledger, what the gateway's tables say of a pulled study, and XNAT's count.
// The pull source (src/sources/pull/) knows neither the store nor XNAT's client; this composition
// root lends them: the SQLite ledger, the progress view over the spool's and jobs' tables, and a
// re-check in XNAT over the REST access of the xnat-rest sink.
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Deliveries } from '../sources/pull/ports.ts';
import type { PullDeps } from '../sources/pull/index.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createPullProgress } from '../store/sqlite/pull-progress.ts';
import { createSqlitePullLedger } from '../store/sqlite/pulls.ts';
import { createXnatClient } from '../xnat/client.ts';
import { createVerifier } from '../xnat/verify.ts';
import { sinkIds } from './compose-sinks.ts';

const XNAT_SINK_TYPES = new Set(['xnat-rest', 'xnat-dimse']);

/**
 * The pull's stores and views. Delivery is read from the jobs of the sinks that deliver to XNAT;
 * a delivered series is counted again over the first xnat-rest sink's REST access (the one every
 * xnat-dimse sink verifies through unless `verifyWith` names another).
 */
export function composePullDeps(sinks: Config['sinks'], db: Db, log: Logger): PullDeps {
  const ids = sinkIds({ sinks });
  const xnatIds = ids.filter((_, i) => XNAT_SINK_TYPES.has(sinks[i]?.type ?? ''));
  const progress = createPullProgress(db, xnatIds);
  const rest = sinks.find((s) => s.type === 'xnat-rest');
  const verify = rest ? createVerifier(createXnatClient(rest, log.child({ component: 'xnat-client' }))) : null;
  const deliveries: Deliveries = {
    ofSeries: (study, series) => Promise.resolve(progress.delivery(study, series)),
    async recheck(s, signal) {
      const as = progress.deliveredAs(s.studyInstanceUid, s.seriesInstanceUid);
      if (!verify || !as) {
        return null;
      }
      const labels = { project: as.project, subject: as.subject, session: as.session };
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
      return { found: v.ok === 'pending' ? null : v.found, session: as.session, uri: v.uri };
    },
  };
  return { ledger: createSqlitePullLedger(db), progress, deliveries, verifies: xnatIds.length > 0 };
}
