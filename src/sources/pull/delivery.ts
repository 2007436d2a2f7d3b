//! After a pulled study is complete: follows its series through delivery and verification in XNAT, and re-checks verified ones.
// The sinks verify each delivery (src/xnat/verified-delivery.ts); their count is taken when there is
// one. A session still being built by XNAT could not be counted then, so rows delivered but not
// verified are asked about again every `verifyIntervalMs`; verified rows are re-checked every
// `reverifyIntervalMs` (daily by default) until the pull's retention ends, and one whose count dropped goes back to `delivered`
// with the reason, flagged in the log (FLIP #676: sessions archived empty yet reported successful).
import type { Clock } from '../../clock.ts';
import type { Logger } from '../../log.ts';
import type { PullLedger, PullRow } from '../../contracts/pull-ledger.ts';
import type { Deliveries } from './ports.ts';

export interface DeliveryTracker {
  /** Catches up every row awaiting delivery or verification (start-up, after a restart), then checks periodically. */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** A series of this study was delivered (a job succeeded). */
  study(studyInstanceUid: string): Promise<void>;
  /** Something about rows of this pull changed (a row became complete). */
  pull(pullId: number): Promise<void>;
  /** One pass: the sinks' counts, then XNAT for delivered rows, and the re-check of verified rows that are due. */
  sweep(): Promise<void>;
}

export interface DeliveryTrackerDeps {
  readonly ledger: PullLedger;
  readonly deliveries: Deliveries;
  readonly clock: Clock;
  readonly log: Logger;
  readonly verifyIntervalMs: number;
  readonly reverifyIntervalMs: number;
  /** pull.phiRetentionMs: a pull whose last row became verified ends, and its patient data is kept this long. */
  readonly retentionMs: number;
  /** False when no sink delivers to XNAT: a pull ends once its rows are delivered. */
  readonly verifies?: boolean;
  /** A row's state or counts changed (the console refreshes). */
  readonly onChange?: (pullId: number) => void;
}

export function createDeliveryTracker(d: DeliveryTrackerDeps): DeliveryTracker {
  const { ledger, deliveries, clock, log } = d;
  const lastChecked = new Map<number, number>();
  let timer: { cancel(): void } | null = null;
  let stopped = false;
  let running: Promise<void> = Promise.resolve();
  const ctrl = new AbortController();

  /** Runs `fn` after whatever sync is running: rows are never synced by two passes at once. */
  function serial(fn: () => Promise<void>): Promise<void> {
    const next = running.then(fn, fn);
    running = next.catch((err: unknown) => {
      log.error({ err }, 'Following pulled studies into XNAT failed; the next pass tries again.');
    });
    return running;
  }

  /** A row's counts changed: its pull may have ended (every row settled). */
  async function changedRow(row: PullRow): Promise<void> {
    if (
      await ledger.endIfSettled(row.pullId, {
        at: clock.now(),
        retentionMs: d.retentionMs,
        verifies: d.verifies !== false,
      })
    ) {
      log.info({ pullId: row.pullId }, 'Pull ended.');
    }
    d.onChange?.(row.pullId);
  }

  /** The sinks' record of each series of the row into the ledger; returns the row's series still unverified. */
  async function fromJobs(row: PullRow): Promise<string[]> {
    if (row.studyInstanceUid === null) {
      return [];
    }
    const unverified: string[] = [];
    let changed = false;
    for (const s of await ledger.series(row.id)) {
      const got = await deliveries.ofSeries(row.studyInstanceUid, s.seriesInstanceUid);
      const at = clock.now();
      if (got.failed) {
        // Never left waiting for a delivery that will not happen: the row and its pull end, saying why.
        await ledger.deliveryFailed(row.id, { ...got.failed, at });
        log.warn(
          { pullId: row.pullId, line: row.line, code: got.failed.code },
          'A pulled series could not be delivered.',
        );
        await changedRow(row);
        return [];
      }
      const newBatch = got.delivered !== (s.delivered ?? 0) || (got.delivered > 0 && s.delivered === null);
      if (newBatch) {
        await ledger.recordDelivery(row.id, {
          seriesInstanceUid: s.seriesInstanceUid,
          delivered: got.delivered,
          ...(got.session ? { xnatSession: got.session } : {}),
          ...(got.uri ? { xnatUrl: got.uri } : {}),
          at,
        });
        changed = true;
      }
      // The sinks' count is taken when the series has none yet, or when a batch of it was delivered
      // since (a series split by a restart is counted whole once its last batch is verified). It
      // never overrides a later re-check in XNAT otherwise: the jobs' counts are as old as the jobs.
      if (got.verified !== null && got.verified !== s.verified && (s.verified === null || newBatch)) {
        await ledger.recordVerification(row.id, { seriesInstanceUid: s.seriesInstanceUid, verified: got.verified, at });
        changed = true;
      } else if (
        got.delivered > 0 &&
        (s.verified === null ? got.verified === null : s.verified < Math.max(got.delivered, s.delivered ?? 0))
      ) {
        // Not countable by its sinks, or XNAT held fewer than were delivered when last asked: XNAT
        // is asked again every interval (a row is never left `delivered` with nobody asking).
        unverified.push(s.seriesInstanceUid);
      }
    }
    if (changed) {
      await changedRow(row);
    }
    return unverified;
  }

  /** Asks XNAT about the given series of a row; records what it could count. */
  async function fromXnat(row: PullRow, series: readonly string[]): Promise<void> {
    if (row.studyInstanceUid === null) {
      return;
    }
    const records = new Map((await ledger.series(row.id)).map((s) => [s.seriesInstanceUid, s]));
    let changed = false;
    for (const uid of series) {
      const s = records.get(uid);
      if (!s?.delivered) {
        continue;
      }
      const r = await deliveries.recheck(
        {
          studyInstanceUid: row.studyInstanceUid,
          seriesInstanceUid: uid,
          seriesNumber: s.seriesNumber,
          delivered: s.delivered,
        },
        ctrl.signal,
      );
      if (!r || r.found === null) {
        continue;
      }
      const at = clock.now();
      if (r.session !== null || r.uri !== null) {
        await ledger.recordDelivery(row.id, {
          seriesInstanceUid: uid,
          delivered: s.delivered,
          ...(r.session ? { xnatSession: r.session } : {}),
          ...(r.uri ? { xnatUrl: r.uri } : {}),
          at,
        });
      }
      if (r.found !== s.verified) {
        await ledger.recordVerification(row.id, { seriesInstanceUid: uid, verified: r.found, at });
        changed = true;
        if (s.verified !== null && r.found < s.verified) {
          log.warn(
            { pullId: row.pullId, line: row.line, series: s.seriesNumber, was: s.verified, now: r.found },
            'XNAT holds fewer instances of a pulled series than were verified before.',
          );
        }
      }
    }
    if (changed) {
      await changedRow(row);
    }
  }

  async function sweepOnce(): Promise<void> {
    const now = clock.now();
    for (const row of await ledger.rowsIn(['complete', 'delivered'])) {
      if (stopped) {
        return;
      }
      const unverified = await fromJobs(row);
      const after = await ledger.row(row.id);
      if (after?.state === 'delivered' && unverified.length > 0) {
        await fromXnat(after, unverified);
      }
    }
    const purged = new Map<number, boolean>();
    for (const row of await ledger.rowsIn(['verified'])) {
      if (stopped) {
        return;
      }
      // A pull whose retention ended is history: its sessions are XNAT's to keep now.
      if (!purged.has(row.pullId)) {
        purged.set(row.pullId, ((await ledger.getPull(row.pullId))?.purgedAt ?? null) !== null);
      }
      if (purged.get(row.pullId) === true) {
        continue;
      }
      const last = lastChecked.get(row.id);
      if (last === undefined) {
        // Verified before this process started, or just now: the first re-check is one interval away.
        lastChecked.set(row.id, now);
        continue;
      }
      if (now - last < d.reverifyIntervalMs) {
        continue;
      }
      lastChecked.set(row.id, now);
      await fromXnat(
        row,
        (await ledger.series(row.id)).map((s) => s.seriesInstanceUid),
      );
    }
  }

  function schedule(): void {
    if (stopped) {
      return;
    }
    timer = clock.setTimeout(() => {
      void serial(sweepOnce).finally(schedule);
    }, d.verifyIntervalMs);
  }

  return {
    async start() {
      await serial(sweepOnce);
      schedule();
    },
    async stop() {
      stopped = true;
      timer?.cancel();
      ctrl.abort(new Error('the gateway is stopping'));
      await running;
    },
    study(uid) {
      return serial(async () => {
        for (const row of await ledger.rowsIn(['complete', 'delivered', 'verified'], uid)) {
          await fromJobs(row);
        }
      });
    },
    pull(pullId) {
      return serial(async () => {
        for (const row of await ledger.rowsIn(['complete', 'delivered'])) {
          if (row.pullId === pullId) {
            await fromJobs(row);
          }
        }
      });
    },
    sweep: () => serial(sweepOnce),
  };
}
