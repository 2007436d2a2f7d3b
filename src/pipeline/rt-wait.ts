//! RT objects held by the router: routed with their referenced images once those are routed, quarantined at the deadline.
// An RT object must land in the same project and session as the images it refers to, and those may
// arrive later or in another batch; until then its decision is held (state waiting).
import type { Clock } from '../clock.ts';
import type { RouteStore } from '../store/routes.ts';
import type { Target } from '../contracts/routing.ts';
import { formatWindow, reason, withReason } from './route-reasons.ts';
import type { RouteWrites } from './route-writer.ts';

/**
 * Routes waiting RT objects whose images are routed, and quarantines those past their deadline.
 * Run it in one unit of work (RouteWriter.unit): a waiting row read here must not be released or
 * discarded before the decision made on it is written.
 */
export async function settleWaiting(
  routes: RouteStore,
  clock: Clock,
  rtWaitMs: number,
  routeNow: RouteWrites['routeNow'],
): Promise<number> {
  let settled = 0;
  // Repeat: an RTPLAN waits for its RTSTRUCT, which may have just been routed with its CT.
  for (let progress = true; progress;) {
    progress = false;
    for (const w of await routes.waiting()) {
      if (!w.rt) {
        continue;
      }
      const res = await routes.resolve(w.rt);
      const base = {
        seriesId: w.seriesId,
        target: w.target,
        reasons: w.reasons,
        rulesHash: w.rulesHash,
        rt: w.rt,
        waitUntil: w.waitUntil,
        decidedAt: w.decidedAt,
        releasedAt: w.releasedAt,
        releasedBy: w.releasedBy,
      };
      const group = res.routed[0];
      if (group && res.missingSeries.length === 0 && res.missingInstances === 0) {
        const quarantined = res.routed.find((r) => r.target === 'quarantine');
        const extra = quarantined
          ? reason(
              'rt:follows-images',
              'rt',
              `Its referenced series ${String(quarantined.seriesId)} went to quarantine; it goes with it.`,
            )
          : reason(
              'rt:images-routed',
              'rt',
              `Its referenced images (series ${res.routed.map((r) => String(r.seriesId)).join(', ')}) were routed; it joins their project and session after them.`,
            );
        const to: Target = quarantined ? 'quarantine' : w.target;
        await routeNow({ ...base, target: to, reasons: withReason(w.reasons, w.target, to, extra) }, group);
      } else if (w.waitUntil !== null && clock.now() >= w.waitUntil) {
        const missing = `${String(res.missingSeries.length)} referenced series and ${String(res.missingInstances)} referenced instances never arrived`;
        const extra = reason(
          'rt:referenced-images-missing',
          'rt',
          `Referenced images missing after waiting ${formatWindow(rtWaitMs)} (${missing}).`,
        );
        await routeNow(
          { ...base, target: 'quarantine', reasons: withReason(w.reasons, w.target, 'quarantine', extra) },
          null,
        );
      } else {
        continue;
      }
      settled++;
      progress = true;
    }
  }
  return settled;
}
