//! De-identifies a whole series for one target project, then verifies it (fail closed).
// Shared by the daemon's transform and the offline `xnat-gateway anonymise` command, so both use
// the same engine, key and ledger. Instances are processed one at a time: a CT series is ~1,000
// files, and memory must stay flat whatever the series size.
import { join } from 'node:path';
import type { Element } from '../../dicom/dataset.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { createBufferPool, writeDicomFile } from '../../dicom/dataset-file.ts';
import { poolIo, type FileIo, type IoThreads } from '../../dicom/io-thread.ts';
import { formatPatientComments } from '../../dicom/labels.ts';
import type { PseudonymLedger } from '../../contracts/component.ts';
import type { TransformStep } from './actions.ts';
import type { ProjectSettings } from './config.ts';
import type { ScriptHost } from './dicomedit/target.ts';
import { subjectOffsetDays } from './dates.ts';
import { anonymiseInstance, openInstance, type OriginalIdentity } from './instance.ts';
import { identityHeld, identityProblems, labelsFor, type Held } from './identity.ts';
import { newElement, put, type Labels } from './insert.ts';
import type { ProjectKey } from './keys.ts';
import { EDITION } from './table.ts';
import { createUidMapper } from './uids.ts';
import { checkFile } from './verify.ts';
import { readFile } from 'node:fs/promises';

/** Instances de-identified at once within a series (I/O overlaps the header work). */
const PARALLEL = 4;

/** An instance of the series could not be parsed (or read as the profile needs): which one, and why. */
export class InstanceReadError extends HeaderError {
  /** Its position in the series' inputs. */
  readonly index: number;
  constructor(index: number, cause: HeaderError) {
    super(cause.message, { cause });
    this.index = index;
  }
}

/** Runs `fn`, naming instance `index` in any HeaderError it throws. */
async function onInstance<T>(index: number, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof HeaderError && !(err instanceof InstanceReadError)) {
      throw new InstanceReadError(index, err);
    }
    throw err;
  }
}

export interface SeriesInput {
  readonly path: string;
  readonly datasetOffset: number;
  readonly transferSyntaxUid: string;
  /** The file's size when known (the spool records it): lets the reader stop without probing for the end. */
  readonly size?: number | undefined;
  /** The SOP Instance and Class UIDs of the File Meta (or the C-STORE request): used when the dataset lacks them. */
  readonly sopInstanceUid?: string | undefined;
  readonly sopClassUid?: string | undefined;
}

export interface SeriesOutputInstance {
  readonly path: string;
  readonly size: number;
  readonly sopInstanceUid: string;
  readonly sopClassUid: string;
}

export type SeriesOutcome =
  | {
      readonly kind: 'done';
      readonly labels: Labels;
      readonly studyUid: string;
      readonly seriesUid: string;
      readonly instances: readonly SeriesOutputInstance[];
      readonly report: SeriesReport;
    }
  /**
   * Not sent, waiting for an operator: `lookup`, the patient is not in the lookup table; `identity`,
   * the series cannot be keyed to one patient and study without merging it with others (a missing
   * PatientID or StudyInstanceUID, instances that disagree, a study already filed under another
   * patient). The reason names attributes and pseudonyms, never original values.
   */
  | Held
  /** Not sent: de-identification could not be verified. The reason names tags and kinds, never values. */
  | { readonly kind: 'failed'; readonly reason: string };

export interface SeriesReport {
  readonly profile: string;
  readonly edition: string;
  readonly keyId: string;
  readonly instances: number;
  readonly counts: Record<string, number>;
  readonly invalidDates: number;
  readonly uidsMapped: number;
}

/** A DicomEdit 6 script ready to run with the series' labels as variables. */
export interface ScriptRunner {
  readonly name: string;
  run(elements: Element[], vars: Readonly<Record<string, string>>, host: ScriptHost): Element[];
}

export interface SeriesDeps {
  readonly settings: ProjectSettings;
  readonly key: ProjectKey;
  readonly ledger: PseudonymLedger;
  readonly script: ScriptRunner | null;
  readonly now: () => number;
  /** The study whose session label the series takes (an RT object routed with another study's images). */
  readonly sessionStudyUid?: string | undefined;
  /** I/O threads of the caller; without, files are read and written on libuv's thread pool. */
  readonly io?: IoThreads | undefined;
  /** Refuse instances that declare burned-in text (the offline command without --allow-burned-in). */
  readonly refuseBurnedIn?: boolean | undefined;
  /** Transform steps switched off: tests only (see TransformStep). */
  readonly skip?: ReadonlySet<TransformStep | 'identity'> | undefined;
}

function sameIdentity(a: OriginalIdentity, b: OriginalIdentity): boolean {
  return (
    a.patientId === b.patientId && a.issuer === b.issuer && a.studyUid === b.studyUid && a.seriesUid === b.seriesUid
  );
}

/** Profile `none`: the instance unchanged except PatientComments, original meta kept. */
async function passThrough(input: SeriesInput, labels: Labels, out: string): Promise<SeriesOutputInstance> {
  const opened = await openInstance(input);
  const head =
    input.datasetOffset > 0 ? (await readFile(input.path)).subarray(0, input.datasetOffset) : Buffer.alloc(0);
  const comments = newElement(0x00104000, [formatPatientComments(labels.project, labels.subject, labels.session)]);
  put(opened.file.main.elements, comments);
  const w = await writeDicomFile(opened.file, head, out);
  return {
    path: out,
    size: w.size,
    sopInstanceUid: opened.identity.sopInstanceUid,
    sopClassUid: opened.identity.sopClassUid,
  };
}

function nextTurn(): Promise<void> {
  return new Promise((resolve) => {
    setImmediate(resolve);
  });
}

/** De-identifies `inputs` (one series) into `outDir`, verifies, and records the UID map. */
export async function anonymiseSeries(
  inputs: readonly SeriesInput[],
  outDir: string,
  deps: SeriesDeps,
  signal?: AbortSignal,
): Promise<SeriesOutcome> {
  // Profile none copies files as they are (passThrough) and would use a thread for one read only.
  if (!deps.io || deps.settings.profile === 'none') {
    return deidentify(inputs, outDir, deps, poolIo, signal);
  }
  return deps.io.use((io) => deidentify(inputs, outDir, deps, io, signal));
}

async function deidentify(
  inputs: readonly SeriesInput[],
  outDir: string,
  deps: SeriesDeps,
  io: FileIo,
  signal?: AbortSignal,
): Promise<SeriesOutcome> {
  const firstInput = inputs[0];
  if (!firstInput) {
    return { kind: 'failed', reason: 'The series has no instances.' };
  }
  const pool = createBufferPool(io.shared);
  const first = await onInstance(0, () => openInstance(firstInput, pool, io));
  const labels = labelsFor(deps, first.identity);
  if ('kind' in labels) {
    return labels;
  }
  const s = deps.settings;
  const uids = createUidMapper(deps.key);
  const out: SeriesOutputInstance[] = [];
  if (s.profile === 'none') {
    for (const [i, input] of inputs.entries()) {
      out.push(await passThrough(input, labels, join(outDir, `${String(i + 1).padStart(6, '0')}.dcm`)));
    }
    return {
      kind: 'done',
      labels,
      studyUid: first.identity.studyUid,
      seriesUid: first.identity.seriesUid,
      instances: out,
      report: report(deps, out.length, {}, 0, 0),
    };
  }
  const dateOffsetDays = subjectOffsetDays(deps.key, first.identity.issuer, first.identity.patientId, s.dateShift);
  const vars = { project: labels.project, subject: labels.subject, session: labels.session };
  const script = deps.script;
  const plan = {
    profile: s.scriptOnly ? 'none (DicomEdit script only)' : s.profile,
    edition: EDITION,
    options: s.options,
    labels,
    keyId: deps.key.keyId,
    uids,
    dateOffsetDays,
    script: script
      ? { name: script.name, run: (els: Element[], seed: string) => script.run(els, vars, scriptHost(uids, seed)) }
      : null,
    unlistedNames: s.unlistedPersonNames,
    skip: deps.skip as ReadonlySet<TransformStep> | undefined,
  };
  const rules = { options: s.options, labels, refuseBurnedIn: deps.refuseBurnedIn === true };
  const counts: Record<string, number> = {};
  let invalidDates = 0;
  let studyUid = '';
  let seriesUid = '';
  // Names, IDs and dates of the patient are searched in every file; UIDs only where they were.
  const shared = new Set<string>();
  const foreign = new Set<string>();
  const problems = new Set<string>();
  const state = { mixed: false };
  const one = async (i: number): Promise<void> => {
    signal?.throwIfAborted();
    const input = inputs[i];
    if (!input) {
      return;
    }
    const opened = i === 0 ? first : await onInstance(i, () => openInstance(input, pool, io));
    if (!sameIdentity(opened.identity, first.identity)) {
      state.mixed = true;
      return;
    }
    const r = await onInstance(i, () =>
      anonymiseInstance(opened, plan, join(outDir, `${String(i + 1).padStart(6, '0')}.dcm`), s.scriptOnly, io),
    ).finally(() => {
      pool.release(opened.file.main.source);
    });
    out[i] = { path: r.path, size: r.size, sopInstanceUid: r.sopInstanceUid, sopClassUid: r.sopClassUid };
    for (const n of r.needles) {
      if (!n.startsWith('uid:')) {
        shared.add(n);
      }
    }
    // Verified at once from the header bytes as written, so a series never holds them all.
    const c = checkFile(
      {
        written: r.written,
        transferSyntaxUid: r.transferSyntaxUid,
        needles: new Set([...r.needles, ...shared]),
        rules,
      },
      uids.produced,
    );
    for (const p of c.problems) {
      problems.add(p);
    }
    for (const u of c.foreignUids) {
      foreign.add(u);
    }
    for (const [k, v] of Object.entries(r.report.counts)) {
      counts[k] = (counts[k] ?? 0) + v;
    }
    invalidDates += r.report.invalidDates;
    studyUid = r.studyUid;
    seriesUid = r.seriesUid;
  };
  await one(0);
  // The first instance too gives the loop a turn: without it, its write and the next four could
  // all be handled in one turn.
  await nextTurn();
  // A few instances in flight keep the disk busy while the CPU edits the next header.
  let next = 1;
  await Promise.all(
    Array.from({ length: Math.min(PARALLEL, inputs.length) }, async () => {
      while (next < inputs.length && !state.mixed) {
        await one(next++);
        // Replies from an I/O thread arrive as messages, and Node handles up to a thousand queued
        // messages, with the promise callbacks each one starts, before the event loop turns again:
        // without this, the loop went 55–72 ms without a turn (C-STORE responses, the status server).
        await nextTurn();
      }
    }),
  );
  if (state.mixed) {
    return identityHeld(
      'The series holds instances of more than one patient or study (PatientID, IssuerOfPatientID, StudyInstanceUID or SeriesInstanceUID differ); it was not de-identified.',
    );
  }
  for (const p of identityProblems(deps, first.identity, labels)) {
    problems.add(p);
  }
  // Retain UIDs keeps original UIDs on purpose: only the ones Table E.1-1 codes U without a K for
  // the option were mapped, and those are checked by their needles.
  const stillForeign = s.options.retainUids ? [] : [...foreign].filter((u) => !uids.produced.has(u));
  if (stillForeign.length) {
    const known = deps.ledger.knownReplacements(s.project, stillForeign);
    const unknown = stillForeign.filter((u) => !known.has(u)).length;
    if (unknown) {
      problems.add(`${String(unknown)} UID value(s) in the output were not produced by the project's UID function`);
    }
  }
  if (problems.size) {
    return { kind: 'failed', reason: `De-identification verification failed: ${[...problems].join('; ')}.` };
  }
  deps.ledger.recordUids(s.project, uids.pairs, deps.now());
  return {
    kind: 'done',
    labels,
    studyUid,
    seriesUid,
    instances: out,
    report: report(deps, out.length, counts, invalidDates, uids.pairs.size),
  };
}

/** hashUID is the profile's keyed UID function; newUID derives from the instance, so output stays repeatable. */
function scriptHost(uids: ReturnType<typeof createUidMapper>, seed: string): ScriptHost {
  let n = 0;
  return { hashUid: (v) => uids.map(v), newUid: () => uids.map(`${seed}.newUID.${String(++n)}`) };
}

function report(
  deps: SeriesDeps,
  instances: number,
  counts: Record<string, number>,
  invalidDates: number,
  uidsMapped: number,
): SeriesReport {
  return {
    profile: deps.settings.profile,
    edition: EDITION,
    keyId: deps.key.keyId,
    instances,
    counts,
    invalidDates,
    uidsMapped,
  };
}
