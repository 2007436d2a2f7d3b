//! De-identifies a whole series for one target project, then verifies it (fail closed).
// Shared by the daemon's transform and the offline `xnat-gateway anonymise` command, so both use
// the same engine, key and ledger. Instances are processed one at a time: a CT series is ~1,000
// files, and memory must stay flat whatever the series size. What it takes and returns is in
// series-types.ts; profile `none` is pass-through.ts.
import { join } from 'node:path';
import type { Element } from '../../dicom/dataset.ts';
import { HeaderError } from '../../dicom/elements.ts';
import { createBufferPool } from '../../dicom/dataset-file.ts';
import { poolIo, type FileIo } from '../../dicom/io-thread.ts';
import type { TransformStep } from './actions.ts';
import type { ScriptHost } from './dicomedit/target.ts';
import { subjectOffsetDays } from './dates.ts';
import { anonymiseInstance, openInstance, type OriginalIdentity } from './instance.ts';
import { identityHeld, identityProblems, labelsFor } from './identity.ts';
import { passThroughSeries } from './pass-through.ts';
import {
  InstanceReadError,
  outputName,
  type SeriesDeps,
  type SeriesInput,
  type SeriesOutcome,
  type SeriesOutputInstance,
  type SeriesReport,
} from './series-types.ts';
import { EDITION } from './table.ts';
import { createUidMapper } from './uids.ts';
import { checkFile } from './verify.ts';

/** Instances de-identified at once within a series (I/O overlaps the header work). */
const PARALLEL = 4;

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

function sameIdentity(a: OriginalIdentity, b: OriginalIdentity): boolean {
  return (
    a.patientId === b.patientId && a.issuer === b.issuer && a.studyUid === b.studyUid && a.seriesUid === b.seriesUid
  );
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
  const labels = await labelsFor(deps, first.identity);
  if ('kind' in labels) {
    return labels;
  }
  const s = deps.settings;
  const uids = createUidMapper(deps.key);
  if (s.profile === 'none') {
    const copied = await passThroughSeries(inputs, labels, outDir);
    return {
      kind: 'done',
      labels,
      studyUid: first.identity.studyUid,
      seriesUid: first.identity.seriesUid,
      instances: copied,
      report: report(deps, copied.length, {}, 0, 0),
    };
  }
  const out: SeriesOutputInstance[] = [];
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
      anonymiseInstance(opened, plan, join(outDir, outputName(i)), s.scriptOnly, io),
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
  for (const p of await identityProblems(deps, first.identity, labels)) {
    problems.add(p);
  }
  // Retain UIDs keeps original UIDs on purpose: only the ones Table E.1-1 codes U without a K for
  // the option were mapped, and those are checked by their needles.
  const stillForeign = s.options.retainUids ? [] : [...foreign].filter((u) => !uids.produced.has(u));
  if (stillForeign.length) {
    const known = await deps.ledger.knownReplacements(s.project, stillForeign);
    const unknown = stillForeign.filter((u) => !known.has(u)).length;
    if (unknown) {
      problems.add(`${String(unknown)} UID value(s) in the output were not produced by the project's UID function`);
    }
  }
  if (problems.size) {
    return { kind: 'failed', reason: `De-identification verification failed: ${[...problems].join('; ')}.` };
  }
  await deps.ledger.recordUids(s.project, uids.pairs, deps.now());
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
