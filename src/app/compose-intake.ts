//! The intake and what it stands on (stores, free space, admission, spool slots), shared by the daemon and `import`.
import type { Clock } from '../clock.ts';
import type { Config } from '../config/schema.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import type { Intake } from '../contracts/source.ts';
import { createAssociationStore } from '../store/sqlite/associations.ts';
import type { Db } from '../store/sqlite/db.ts';
import { createInstanceStore } from '../store/sqlite/instances.ts';
import { createWriteLater, type WriteLater } from '../store/write-later.ts';
import { createAdmission, type AdmissionControl } from '../spool/admission.ts';
import { createDiskSpace, type DiskSpace } from '../spool/disk-space.ts';
import { createIntake } from '../spool/intake.ts';
import type { Layout } from '../spool/layout.ts';
import { createSlotPool, type SlotPool } from '../spool/slots.ts';
import type { FindHasher } from '../find/digest.ts';

export interface ComposedIntake {
  readonly intake: Intake;
  readonly admission: AdmissionControl;
  readonly slots: SlotPool;
  /** Free space and reservations, for every writer of the process (spool, work, uploads, outbox). */
  readonly space: DiskSpace;
  /** Association closes that SQLite refused (disk full), retried until they succeed. */
  readonly later: WriteLater;
  /** Writes the durable marks still waiting for a group commit (ADR 0013); before the database closes. */
  readonly flushDurable: () => Promise<void>;
}

/** The free-space budget of one process: the spool watermark applies to every writer. */
export function diskSpaceFor(cfg: Config, freeBytes?: (dir: string) => number): DiskSpace {
  return createDiskSpace({ minFreeBytes: cfg.spool.minFreeBytes, freeBytes });
}

/** The intake and what it stands on (stores, admission, spool slots): the daemon's and `import`'s. */
export function composeIntake(
  cfg: Config,
  db: Db,
  o: {
    /** The registered source types (src/app/registry.ts): the intake refuses any other. */
    sources: readonly string[];
    layout: Layout;
    clock: Clock;
    events: DaemonEvents;
    log: Logger;
    /** Recorded on every association (src/app/node-id.ts). */
    nodeId?: string;
    space?: DiskSpace;
    /** The find hasher, once its key is loaded (before any source starts). */
    finder: () => FindHasher | null;
  },
): ComposedIntake {
  const { layout, clock, log } = o;
  const associations = createAssociationStore(db, o.nodeId ?? null);
  const instances = createInstanceStore(db);
  const space = o.space ?? diskSpaceFor(cfg);
  const admission = createAdmission({
    dataDir: layout.dataDir,
    clock,
    space,
    maxPendingInstances: cfg.spool.maxPendingInstances,
    pendingCount: () => instances.pendingCount(),
  });
  const slots = createSlotPool(layout.spoolDir, {
    onError: (err) => {
      log.error({ err }, 'Creating spool slots failed.');
    },
  });
  const known = new Set(o.sources);
  // The source id is checked against the registry here, in code (no SQL CHECK lists the types).
  const registered = (source: string): void => {
    if (!known.has(source)) {
      throw new Error(`Source type '${source}' is not registered (src/app/registry.ts).`);
    }
  };
  const { begin: beginInstance, flushDurable } = createIntake({
    layout,
    slots,
    instances,
    associations,
    clock,
    events: o.events,
    log: log.child({ component: 'intake' }),
    // The disk was settled by the instance's reservation before its first byte (spool-writer.ts).
    admission: () => admission.backlog(),
    maxInstanceBytes: cfg.dimse.maxInstanceBytes,
    reserve: (bytes) => space.reserve(layout.spoolDir, bytes),
    lookupDigests: (h) => {
      const f = o.finder();
      // Sources start only after the key is loaded; a missing hasher here is a wiring bug.
      if (!f) {
        throw new Error('The find lookup key is not loaded.');
      }
      return f.ofInstance(h);
    },
  });
  const later = createWriteLater({ clock, log: log.child({ component: 'intake' }) });
  const selfReported = new Set<string>();
  const intake: Intake = {
    admission: () => admission.check(),
    openAssociation: async (a) => {
      registered(a.source);
      const { uid } = await associations.open({
        source: a.source,
        callingAe: a.sender ?? '',
        calledAe: a.calledAe ?? '',
        peerIp: a.peerIp,
        at: clock.now(),
      });
      // A source that reports its associations itself (the DICOM one, with its connection's timing)
      // says so; for the others (a folder drop) the intake does.
      if (!a.reportsEvents) {
        o.events.emit('association.opened', {
          source: a.source,
          associationUid: uid,
          peerIp: a.peerIp,
          callingAe: a.sender ?? '',
          calledAe: a.calledAe ?? '',
        });
      } else {
        selfReported.add(uid);
      }
      return uid;
    },
    // Called from socket and drop events that cannot take a failure: never throws (write-later.ts).
    closeAssociation: (uid, outcome) => {
      const at = clock.now();
      later.run('close an association', async () => {
        const row = await associations.close(uid, outcome, at);
        if (row && !selfReported.delete(uid)) {
          o.events.emit('association.closed', {
            source: row.source,
            associationUid: uid,
            instances: row.instances,
            bytes: row.bytes,
            durationMs: at - row.openedAt,
            outcome,
          });
        }
      });
    },
    begin: (meta) => {
      registered(meta.source);
      return beginInstance(meta);
    },
    reserveSpace: (dir, bytes) => space.reserve(dir, bytes),
    space: (dir) => space.reading(dir),
  };
  return { intake, admission, slots, space, later, flushDurable };
}
