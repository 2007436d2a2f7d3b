//! Start-up recovery: what the previous process left, put right before anything runs; then what leaves the gateway.
// Runs as one service after the database and before every component (daemon.ts), so nothing new
// races the clean-up: work files of killed jobs, orphan spool slots, leases. Each sink sweeps its
// own leftovers and checks its target when it starts, right after (src/contracts/sink-lifecycle.ts).
import type { Config } from '../config/schema.ts';
import type { Logger } from '../log.ts';
import type { Assembler } from '../series/assembler.ts';
import type { Layout } from '../spool/layout.ts';
import { reconcileSpool, sweepWorkDir } from '../spool/reconcile.ts';
import type { Retention } from '../spool/retention.ts';
import type { SlotPool } from '../spool/slots.ts';
import type { Db } from '../store/sqlite/db.ts';

/** The daemon's parts recovery puts right. */
export interface RecoveryParts {
  readonly cfg: Config;
  readonly log: Logger;
  readonly db: Db;
  readonly layout: Layout;
  readonly slots: SlotPool;
  readonly assembler: Assembler;
  readonly retention: Retention;
  /** This gateway's node id: only its own rows not yet durable are checked. */
  readonly nodeId: string;
}

/** Recovers, then logs what was put right and what leaves the gateway. */
export async function recover(p: RecoveryParts): Promise<void> {
  const { layout, log, slots } = p;
  // Nothing runs yet: whatever is in the work directory was left by a killed job, drop read or upload.
  const work = await sweepWorkDir(layout, log);
  const spool = await reconcileSpool(layout, p.db, log, p.nodeId);
  slots.adopt(spool.freeSlots);
  await slots.prime();
  const recovered = await p.assembler.recoverAfterRestart();
  const retained = await p.retention.recover();
  log.info(
    {
      ...recovered,
      orphanFiles: spool.removed,
      freeSlots: slots.ready,
      workEntries: work,
      originals: retained,
      node: p.nodeId,
    },
    'Recovered state from the previous run.',
  );
  logAnonymisation(p.cfg, log);
}

/** Says at start-up what leaves the gateway: identifiable data (profile none) is an explicit, logged choice. */
function logAnonymisation(cfg: Config, log: Logger): void {
  const a = cfg.anonymise;
  const none = [
    a.profile === 'none' ? `default (every project not listed, e.g. ${cfg.route.hospitalProject})` : null,
    ...Object.entries(a.projects)
      .filter(([, p]) => p.profile === 'none')
      .map(([n]) => n),
  ].filter((x) => x !== null);
  if (none.length) {
    log.warn(
      { projects: none },
      'Anonymisation profile "none": identifiable data is forwarded unchanged to these projects.',
    );
  }
  log.info({ profile: a.profile, projects: Object.keys(a.projects) }, 'De-identification before delivery.');
}
