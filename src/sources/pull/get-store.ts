//! C-GET sub-operations into the Intake: one intake association per PACS, open while instances keep coming.
// A C-MOVE's instances come in through the DICOM receiver (the move destination); a C-GET's come
// back on the pull's own association, so the pull hands them to the Intake like any source,
// durably, before they are answered.
import type { Clock } from '../../clock.ts';
import type { Intake } from '../../contracts/source.ts';
import type { IncomingStore, StoreMeta } from '../../dicom/association/incoming-store.ts';
import type { Logger } from '../../log.ts';

/** An open C-GET intake association is closed after this long without an instance, so its series can complete. */
const GET_ASSOCIATION_IDLE_MS = 2000;

export interface GetStore {
  store(meta: StoreMeta): IncomingStore;
  /** Closes every open intake association (the pull stops). */
  close(): void;
}

/** A C-STORE sub-operation refused before anything is written (back-pressure, or the pull not started). */
export function refusedStore(message: string): IncomingStore {
  return {
    write: () => true,
    drained: () => Promise.resolve(),
    finish: () => Promise.resolve({ ok: false, retryable: true, message }),
    abort: () => Promise.resolve(),
  };
}

export function createGetStore(intake: Intake, clock: Clock, log: Logger): GetStore {
  const open = new Map<string, { uid: string; timer: { cancel(): void } | null; busy: number }>();
  const closeOne = (key: string): void => {
    const a = open.get(key);
    if (!a || a.busy > 0) {
      return;
    }
    open.delete(key);
    a.timer?.cancel();
    intake.closeAssociation(a.uid, 'released');
  };
  return {
    store(meta) {
      const key = `${meta.callingAe}|${meta.peerIp}`;
      const admission = intake.admission();
      if (!admission.ok) {
        return refusedStore(admission.message);
      }
      let a = open.get(key);
      if (!a) {
        const uid = intake.openAssociation({
          source: 'pull',
          sender: meta.callingAe,
          calledAe: meta.calledAe,
          peerIp: meta.peerIp,
        });
        a = { uid, timer: null, busy: 0 };
        open.set(key, a);
      }
      const assoc = a;
      assoc.timer?.cancel();
      assoc.busy++;
      const done = (): void => {
        assoc.busy--;
        assoc.timer?.cancel();
        assoc.timer = clock.setTimeout(() => {
          closeOne(key);
        }, GET_ASSOCIATION_IDLE_MS);
      };
      const inst = intake.begin({
        source: 'pull',
        sopClassUid: meta.sopClassUid,
        sopInstanceUid: meta.sopInstanceUid,
        transferSyntaxUid: meta.transferSyntaxUid,
        callingAe: meta.callingAe,
        calledAe: meta.calledAe,
        peerIp: meta.peerIp,
        associationUid: assoc.uid,
      });
      let settled = false;
      const settle = (): void => {
        if (!settled) {
          settled = true;
          done();
        }
      };
      return {
        write: (chunk) => inst.write(chunk),
        drained: () => inst.drained(),
        async finish() {
          try {
            const r = await inst.finish();
            if (!r.ok) {
              log.warn({ code: r.code }, 'An instance retrieved by C-GET was refused.');
            }
            return r.ok ? { ok: true } : { ok: false, retryable: r.retryable, message: r.message };
          } finally {
            settle();
          }
        },
        async abort() {
          await inst.abort();
          settle();
        },
      };
    },
    close() {
      for (const [key, a] of open) {
        a.busy = 0;
        closeOne(key);
      }
    },
  };
}
