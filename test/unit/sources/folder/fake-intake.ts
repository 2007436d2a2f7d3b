//! A recording Intake for the folder source's unit tests: no spool, no database.
import type { Admission, IncomingInstance, IncomingMeta, IngestResult } from '../../../../src/contracts/component.ts';
import type { Intake } from '../../../../src/contracts/source.ts';
import { createDiskSpace } from '../../../../src/spool/disk-space.ts';

export interface FakeInstance {
  readonly meta: IncomingMeta;
  readonly chunks: Buffer[];
  aborted: number;
  finished: number;
  readonly bytes: () => Buffer;
}

export interface FakeIntake extends Intake {
  /** What the next admission() answers. */
  admit: Admission;
  /** What finish() answers for an instance (default: stored, ids counting from 1). */
  result: (meta: IncomingMeta, n: number) => IngestResult;
  /** Called with every chunk before it is recorded (to change the source file mid-read). */
  onWrite: ((chunk: Buffer, instance: FakeInstance, index: number) => void) | null;
  readonly instances: FakeInstance[];
  readonly associations: { uid: string; source: string; outcome: string | null }[];
  admissions: number;
  /** Resolves once the association closes passed on to the backing are recorded. */
  settled(): Promise<void>;
  /** When true, write() asks the caller to wait for drained() after every chunk. */
  slow: boolean;
  drains: number;
  /** Free bytes the fake's disk reports (reserveSpace/space use a real DiskSpace over it; watermark `minFreeBytes`). */
  freeBytes: number;
  minFreeBytes: number;
}

/** Where associations are recorded besides the fake's own list (the real store, when a ledger joins on it). */
export interface AssociationBacking {
  open(a: { source: string; callingAe: string; calledAe: string; peerIp: string; at: number }): Promise<{
    uid: string;
  }>;
  close(uid: string, outcome: 'released' | 'aborted' | 'dropped', at: number): Promise<unknown>;
}

export function createFakeIntake(backing?: AssociationBacking): FakeIntake {
  let nextId = 1;
  // Closes passed on to the backing: recorded after closeAssociation returns, as by the real intake.
  const closing: Promise<unknown>[] = [];
  let disk = createDiskSpace({ minFreeBytes: 0, freeBytes: () => intake.freeBytes });
  const intake: FakeIntake = {
    freeBytes: 1e15,
    minFreeBytes: 0,
    admit: { ok: true },
    result: () => ({ ok: true, instanceId: nextId++, outcome: 'stored' }),
    onWrite: null,
    instances: [],
    associations: [],
    admissions: 0,
    slow: false,
    drains: 0,
    admission() {
      intake.admissions++;
      return Promise.resolve(intake.admit);
    },
    async openAssociation(a) {
      const uid = backing
        ? (
            await backing.open({
              source: a.source,
              callingAe: a.sender ?? '',
              calledAe: a.calledAe ?? '',
              peerIp: a.peerIp,
              at: 0,
            })
          ).uid
        : `assoc-${String(intake.associations.length + 1)}`;
      intake.associations.push({ uid, source: a.source, outcome: null });
      return uid;
    },
    closeAssociation(uid, outcome) {
      const a = intake.associations.find((x) => x.uid === uid);
      if (!a) {
        throw new Error(`unknown association ${uid}`);
      }
      if (a.outcome !== null) {
        throw new Error(`association ${uid} closed twice`);
      }
      a.outcome = outcome;
      if (backing) {
        closing.push(backing.close(uid, outcome, 0));
      }
    },
    async settled() {
      await Promise.all(closing);
    },
    reserveSpace(dir, bytes) {
      if (disk.minFreeBytes !== intake.minFreeBytes) {
        disk = createDiskSpace({ minFreeBytes: intake.minFreeBytes, freeBytes: () => intake.freeBytes });
      }
      return disk.reserve(dir, bytes);
    },
    space(dir) {
      if (disk.minFreeBytes !== intake.minFreeBytes) {
        disk = createDiskSpace({ minFreeBytes: intake.minFreeBytes, freeBytes: () => intake.freeBytes });
      }
      return disk.reading(dir);
    },
    begin(meta): IncomingInstance {
      const rec: FakeInstance = { meta, chunks: [], aborted: 0, finished: 0, bytes: () => Buffer.concat(rec.chunks) };
      intake.instances.push(rec);
      let written = 0;
      return {
        write(chunk) {
          intake.onWrite?.(chunk, rec, rec.chunks.length);
          rec.chunks.push(Buffer.from(chunk));
          written += chunk.length;
          return !intake.slow;
        },
        drained() {
          intake.drains++;
          return Promise.resolve();
        },
        finish() {
          rec.finished++;
          return Promise.resolve(intake.result(meta, intake.instances.indexOf(rec) + 1));
        },
        abort() {
          rec.aborted++;
          return Promise.resolve();
        },
        get bytesWritten() {
          return written;
        },
      };
    },
  };
  return intake;
}
