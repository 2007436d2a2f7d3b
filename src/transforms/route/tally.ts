//! What the verdicts of one series add up to: distinct verdicts with counts, its keys, its RT references.
// Headers are evaluated as they are read and dropped: a series of thousands of instances usually
// yields a handful of distinct verdicts, so only those are kept, with how many instances gave each.
import type { ReadInstance } from './instance-view.ts';
import type { SeriesKeys } from './identity.ts';
import { mergeVerdicts } from './rule-set.ts';
import type { InstanceVerdict, RouteReason, RtReferences, RuleSet, SeriesDecision } from './types.ts';

/** The verdict of an instance whose header cannot be read: fail closed. */
const UNREADABLE: InstanceVerdict = Object.freeze({
  target: 'quarantine',
  reasons: Object.freeze([
    Object.freeze({
      rule: 'builtin:unreadable',
      source: 'builtin',
      instances: 1,
      message: 'An instance header could not be read; the series goes to quarantine (fail closed).',
    }),
  ]),
});

/** What the verdicts of one series add up to, kept as distinct verdicts with counts. */
export interface Tally {
  instance(r: ReadInstance): void;
  unreadable(): void;
  readonly instances: number;
  readonly modality: string;
  /** The patient and study the series is filed by (first instance), and whether an instance names another patient. */
  readonly keys: SeriesKeys | null;
  result(): { target: SeriesDecision['target']; reasons: RouteReason[]; rt: RtReferences | null };
}

const PATIENT_ID = 0x00100020;
const ISSUER_OF_PATIENT_ID = 0x00100021;

export function createTally(rules: RuleSet): Tally {
  const verdicts = new Map<string, { verdict: InstanceVerdict; count: number }>();
  const own = new Set<string>();
  const seriesRefs = new Set<string>();
  const sopRefs = new Set<string>();
  let rtModality: string | null = null;
  let ownSeries = '';
  let instances = 0;
  let modality = '';
  let keys: { patientId: string; issuer: string; studyUid: string; mixed: boolean } | null = null;
  const add = (verdict: InstanceVerdict): void => {
    instances++;
    const key = JSON.stringify(verdict);
    const seen = verdicts.get(key);
    if (seen) {
      seen.count++;
    } else {
      verdicts.set(key, { verdict, count: 1 });
    }
  };
  function* expanded(): Generator<InstanceVerdict> {
    for (const { verdict, count } of verdicts.values()) {
      for (let i = 0; i < count; i++) {
        yield verdict;
      }
    }
  }
  return {
    get instances() {
      return instances;
    },
    get modality() {
      return modality;
    },
    get keys() {
      return keys;
    },
    instance(r) {
      add(rules.evaluate(r.view));
      const patientId = (r.view.values(PATIENT_ID)?.[0] ?? '').trim();
      const issuer = (r.view.values(ISSUER_OF_PATIENT_ID)?.[0] ?? '').trim();
      if (keys === null) {
        keys = { patientId, issuer, studyUid: r.studyInstanceUid, mixed: false };
      } else if (keys.patientId !== patientId || keys.issuer !== issuer) {
        keys.mixed = true;
      }
      own.add(r.sopInstanceUid);
      ownSeries ||= r.seriesInstanceUid;
      modality ||= r.modality;
      if (r.rt) {
        rtModality ??= r.rt.modality;
        for (const s of r.rt.seriesUids) {
          seriesRefs.add(s);
        }
        for (const s of r.rt.sopInstanceUids) {
          sopRefs.add(s);
        }
      }
    },
    unreadable: () => {
      add(UNREADABLE);
    },
    result() {
      const { target, reasons } = mergeVerdicts(expanded());
      // Instances of the series itself are not waited for: they are here.
      const rt =
        rtModality === null
          ? null
          : {
              modality: rtModality,
              seriesUids: [...seriesRefs].filter((s) => s !== ownSeries),
              sopInstanceUids: [...sopRefs].filter((s) => !own.has(s)),
            };
      return { target, reasons, rt };
    },
  };
}
