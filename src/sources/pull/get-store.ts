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

/** A PACS's intake association: `uid` settles once its row is committed; `busy` instances are under way. */
interface GetAssociation {
  readonly uid: Promise<string>;
  timer: { cancel(): void } | null;
  busy: number;
}

export function createGetStore(intake: Intake, clock: Clock, log: Logger): GetStore {
  /** By PACS: calling AE title and address. */
  const open = new Map<string, GetAssociation>();
  const closeOne = (key: string): void => {
    const a = open.get(key);
    if (!a || a.busy > 0) {
      return;
    }
    open.delete(key);
    a.timer?.cancel();
    // One that could not be recorded has nothing to close.
    a.uid.then(
      (uid) => {
        intake.closeAssociation(uid, 'released');
      },
      () => undefined,
    );
  };
  /** The PACS's intake association, opened for its first instance and kept while instances keep coming. */
  const associationFor = (key: string, meta: StoreMeta): GetAssociation => {
    const have = open.get(key);
    if (have) {
      return have;
    }
    const a: GetAssociation = {
      uid: intake.openAssociation({
        source: 'pull',
        sender: meta.callingAe,
        calledAe: meta.calledAe,
        peerIp: meta.peerIp,
      }),
      timer: null,
      busy: 0,
    };
    open.set(key, a);
    // Not recorded: forgotten, so the PACS's next instance tries again.
    a.uid.catch(() => {
      if (open.get(key) === a) {
        open.delete(key);
      }
    });
    return a;
  };
  /** The instance begun in the Intake once it is admitted and its association recorded; else a refusal. */
  const begin = async (key: string, meta: StoreMeta): Promise<IncomingStore> => {
    const admission = await intake.admission();
    if (!admission.ok) {
      return refusedStore(admission.message);
    }
    const assoc = associationFor(key, meta);
    assoc.timer?.cancel();
    assoc.busy++;
    let associationUid: string;
    try {
      associationUid = await assoc.uid;
    } catch (err) {
      assoc.busy--;
      log.warn({ err }, 'The intake association of a C-GET could not be recorded; its instance is refused.');
      return refusedStore('The gateway could not record the association; try again.');
    }
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
      associationUid,
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
  };
  return {
    store(meta) {
      // Admission and the association's row are read and written in the database: until they are
      // done the instance's bytes wait here, and the PACS's association pauses (write answers false).
      let target: IncomingStore | null = null;
      const waiting: Buffer[] = [];
      const started = begin(`${meta.callingAe}|${meta.peerIp}`, meta).then((t) => {
        target = t;
        for (const chunk of waiting.splice(0)) {
          t.write(chunk);
        }
        return t;
      });
      // A failure reaches the association through drained, finish or abort; until one is asked, it waits.
      started.catch(() => undefined);
      return {
        write(chunk) {
          if (target) {
            return target.write(chunk);
          }
          waiting.push(Buffer.from(chunk));
          return false;
        },
        drained: async () => (await started).drained(),
        finish: async () => (await started).finish(),
        abort: async () => (await started).abort(),
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
