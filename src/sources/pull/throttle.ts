//! How hard one PACS is used: association slots and studies in flight within the open window, and the utilisation cap.
// DQR's model: each window has a number of threads and a utilisation; at U %, a thread that was
// busy for t ms rests t × (100 − U) / U ms before its next operation. Here a thread is an
// association slot. All waiting is the caller's: `tryAssociation` and `tryStudy` never block, they
// say when to look again (null: when something is released).
import type { Clock } from '../../clock.ts';
import type { Schedule } from './schedule.ts';

export type Refusal =
  | { readonly ok: false; readonly reason: 'closed'; readonly retryAt: number | null }
  | { readonly ok: false; readonly reason: 'associations' | 'studies'; readonly retryAt: null }
  | { readonly ok: false; readonly reason: 'utilisation'; readonly retryAt: number };

export interface AssociationPermit {
  readonly ok: true;
  /** The association ended; its slot rests according to the utilisation of the window it was opened in. */
  release(): void;
}

export interface StudyPermit {
  readonly ok: true;
  release(): void;
}

export interface ThrottleStatus {
  readonly window: number | null;
  readonly associations: number;
  readonly studies: number;
  readonly maxAssociations: number;
  readonly maxStudiesInFlight: number;
  readonly utilisationPercent: number;
  /** When the window state next changes. */
  readonly nextChangeAt: number | null;
}

export interface PacsThrottle {
  tryAssociation(): AssociationPermit | Refusal;
  tryStudy(): StudyPermit | Refusal;
  status(): ThrottleStatus;
}

/** Slots beyond the largest window limit are never used; 64 is the configuration's maximum. */
const SLOTS = 64;

export function createThrottle(schedule: Schedule, clock: Clock): PacsThrottle {
  const slots = Array.from({ length: SLOTS }, () => ({ busy: false, restUntil: 0 }));
  let busy = 0;
  let studies = 0;

  return {
    tryAssociation() {
      const now = clock.now();
      const w = schedule.windowAt(now);
      if (!w) {
        return { ok: false, reason: 'closed', retryAt: schedule.nextChange(now) };
      }
      if (busy >= w.maxAssociations) {
        return { ok: false, reason: 'associations', retryAt: null };
      }
      let soonest = Infinity;
      for (let i = 0; i < w.maxAssociations; i++) {
        const s = slots[i];
        if (!s || s.busy) {
          continue;
        }
        if (s.restUntil <= now) {
          s.busy = true;
          busy++;
          const started = now;
          const u = w.utilisationPercent;
          let released = false;
          return {
            ok: true,
            release() {
              if (released) {
                return;
              }
              released = true;
              s.busy = false;
              busy--;
              const end = clock.now();
              s.restUntil = end + Math.round(((end - started) * (100 - u)) / u);
            },
          };
        }
        soonest = Math.min(soonest, s.restUntil);
      }
      // Every free slot is resting; a window change could also free us earlier.
      const change = schedule.nextChange(now);
      return { ok: false, reason: 'utilisation', retryAt: change === null ? soonest : Math.min(soonest, change) };
    },
    tryStudy() {
      const now = clock.now();
      const w = schedule.windowAt(now);
      if (!w) {
        return { ok: false, reason: 'closed', retryAt: schedule.nextChange(now) };
      }
      if (studies >= w.maxStudiesInFlight) {
        return { ok: false, reason: 'studies', retryAt: null };
      }
      studies++;
      let released = false;
      return {
        ok: true,
        release() {
          if (!released) {
            released = true;
            studies--;
          }
        },
      };
    },
    status() {
      const now = clock.now();
      const w = schedule.windowAt(now);
      return {
        window: w?.index ?? null,
        associations: busy,
        studies,
        maxAssociations: w?.maxAssociations ?? 0,
        maxStudiesInFlight: w?.maxStudiesInFlight ?? 0,
        utilisationPercent: w?.utilisationPercent ?? 0,
        nextChangeAt: schedule.nextChange(now),
      };
    },
  };
}
