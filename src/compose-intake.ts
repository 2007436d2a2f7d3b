//! The intake and what it stands on (stores, admission, spool slots), shared by the daemon and `import`.
import { join } from 'node:path';
import type { Clock } from './clock.ts';
import type { Config } from './config/schema.ts';
import type { DaemonEvents } from './events.ts';
import type { Logger } from './log.ts';
import type { Intake } from './pipeline/contracts.ts';
import { createAssociationStore } from './queue/associations.ts';
import type { Db } from './queue/db.ts';
import { createInstanceStore } from './queue/instances.ts';
import { createAdmission, type AdmissionControl } from './spool/admission.ts';
import { createIntake } from './spool/intake.ts';
import type { Layout } from './spool/layout.ts';
import { createSlotPool, type SlotPool } from './spool/slots.ts';
import type { DropPaths } from './sources/folder/drop-reader.ts';
import type { FindHasher } from './find/digest.ts';

/** The intake and what it stands on (stores, admission, spool slots): the daemon's and `import`'s. */
export function composeIntake(cfg: Config, db: Db, o: {
  layout: Layout; clock: Clock; events: DaemonEvents; log: Logger; freeBytes?: ((dir: string) => number) | undefined;
  /** The find hasher, once its key is loaded (before any source starts). */
  finder: () => FindHasher | null;
}): { intake: Intake; admission: AdmissionControl; slots: SlotPool } {
  const { layout, clock, log } = o;
  const associations = createAssociationStore(db);
  const instances = createInstanceStore(db);
  const admission = createAdmission({
    dataDir: layout.dataDir, clock, minFreeBytes: cfg.spool.minFreeBytes,
    maxPendingInstances: cfg.spool.maxPendingInstances, pendingCount: () => instances.pendingCount(),
    ...(o.freeBytes ? { freeBytes: o.freeBytes } : {}),
  });
  const slots = createSlotPool(layout.spoolDir, { onError: (err) => { log.error({ err }, 'Creating spool slots failed.'); } });
  const { begin } = createIntake({
    layout, slots, instances, associations, clock, events: o.events, log: log.child({ component: 'intake' }),
    admission: () => admission.check(), maxInstanceBytes: cfg.dimse.maxInstanceBytes,
    lookupDigests: (h) => {
      const f = o.finder();
      // Sources start only after the key is loaded; a missing hasher here is a wiring bug.
      if (!f) {throw new Error('The find lookup key is not loaded.');}
      return f.ofInstance(h);
    },
  });
  const intake: Intake = {
    admission: () => admission.check(),
    openAssociation: (a) => {
      const { uid } = associations.open({ ...a, at: clock.now() });
      // The DICOM source reports its associations itself (with the peer); a folder drop is one here.
      if (a.source === 'folder') {o.events.emit('association.opened', { source: 'folder', associationUid: uid, peerIp: '', callingAe: '', calledAe: '' });}
      return uid;
    },
    closeAssociation: (uid, outcome) => {
      const now = clock.now();
      const row = associations.close(uid, outcome, now);
      if (row?.source === 'folder') {
        o.events.emit('association.closed', { source: 'folder', associationUid: uid, instances: row.instances, bytes: row.bytes, durationMs: now - row.openedAt, outcome });
      }
    },
    begin,
  };
  return { intake, admission, slots };
}

/** Import-folder paths; `root` is the watched folder, or the parent of a one-shot import. */
export function folderPaths(cfg: Config, layout: Layout, root: string): DropPaths {
  return {
    root, processedDir: cfg.folder.processedDir ?? join(layout.dataDir, 'processed'),
    rejectedDir: cfg.folder.rejectedDir ?? join(layout.dataDir, 'rejected'), workDir: layout.workDir,
  };
}
