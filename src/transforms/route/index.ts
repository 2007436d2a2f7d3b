//! The `route` transform: decides, per completed series, between the hospital and the quarantine project.
// Every instance header is read and evaluated (one burned-in screen capture quarantines its whole
// series), by one rule set taken when the series starts, so a reload mid-series cannot split it.
// Headers are evaluated as they are read and dropped: only distinct verdicts are kept, with counts.
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readHeader } from '../../dicom/read.ts';
import { sniffFile } from '../../dicom/sniff.ts';
import type { ComponentContext, SeriesSnapshot } from '../../contracts/component.ts';
import { identityReason, type RouteDeps, type SeriesKeys } from './identity.ts';
import type { RouteConfig } from './config.ts';
import { readInstance, type ReadInstance } from './instance-view.ts';
import { createRuleSource } from './rule-source.ts';
import { mergeVerdicts } from './rule-set.ts';
import type { InstanceVerdict, RouteReason, RtReferences, RuleSet, RulesStatus, SeriesDecision } from './types.ts';

/** Instance headers read at the same time. */
const PARALLEL_READS = 8;

/** The route component (see the module comment). */
export interface Route {
  readonly id: 'route';
  /**
   * Reads every instance header of the series and applies the rules in force (one rule set for the
   * whole series). Fail closed: an unreadable instance quarantines the series with rule
   * 'builtin:unreadable'. Throws only when `signal` aborts. Also returns the RT references (union
   * over instances) when the series is RT.
   */
  decide(series: SeriesSnapshot, signal: AbortSignal): Promise<SeriesDecision>;
  /**
   * Offline/explain: groups files (folders are walked, hidden names skipped) by (StudyInstanceUID,
   * SeriesInstanceUID) and decides each group as `decide` would. Files that are not DICOM are listed
   * in `skipped` with a reason. An RT group whose referenced images are not among the files gets the
   * reason 'rt:waits-for-images' (its target stays as the rules decided).
   */
  explain(
    paths: readonly string[],
    signal: AbortSignal,
  ): Promise<{ series: ExplainedSeries[]; skipped: { path: string; reason: string }[] }>;
  rules(): RulesStatus;
  start(): void;
  close(): Promise<void>;
}

/** One series found by `explain`, with its decision. */
export interface ExplainedSeries {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly modality: string;
  readonly instances: number;
  readonly decision: SeriesDecision;
}

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
interface Tally {
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

function createTally(rules: RuleSet): Tally {
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

/** Runs `fn` over `items` with at most `limit` at a time; stops taking new items once `signal` aborts. */
async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  signal: AbortSignal,
  fn: (item: T, index: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      signal.throwIfAborted();
      const index = next++;
      await fn(items[index] as T, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  signal.throwIfAborted();
}

/** A short, identifier-free description of a read failure (paths and messages may carry UIDs). */
function failureOf(err: unknown): string {
  if (!(err instanceof Error)) {
    return 'unknown error';
  }
  const code = (err as NodeJS.ErrnoException).code;
  return code === undefined ? err.name : `${err.name} ${code}`;
}

/** Regular files under `paths` (folders walked recursively in name order; hidden names and symlinks inside folders skipped). */
async function listFiles(paths: readonly string[], skipped: { path: string; reason: string }[]): Promise<string[]> {
  const out: string[] = [];
  async function visit(path: string, top: boolean): Promise<void> {
    let st;
    try {
      st = top ? await stat(path) : await lstat(path);
    } catch (err) {
      skipped.push({ path, reason: `cannot be read (${(err as NodeJS.ErrnoException).code ?? failureOf(err)})` });
      return;
    }
    if (st.isFile()) {
      out.push(path);
    } else if (st.isDirectory()) {
      let names: string[];
      try {
        names = await readdir(path);
      } catch (err) {
        skipped.push({
          path,
          reason: `folder cannot be read (${(err as NodeJS.ErrnoException).code ?? failureOf(err)})`,
        });
        return;
      }
      for (const name of names.filter((n) => !n.startsWith('.')).sort()) {
        await visit(join(path, name), false);
      }
    }
  }
  for (const p of paths) {
    await visit(p, true);
  }
  return out;
}

function hours(ms: number): string {
  return String(Number((ms / 3_600_000).toFixed(1)));
}

/**
 * Loads the rules (throws RuleFileError when they do not validate: the daemon refuses to start).
 * `deps.identifying(tag)` says whether an attribute can identify a patient (reasons never show its values).
 */
export function create(cfg: RouteConfig, ctx: ComponentContext, deps: RouteDeps): Route {
  const source = createRuleSource(cfg, ctx, deps);

  function decision(tally: Tally, rules: RuleSet): SeriesDecision {
    const { target, reasons, rt } = tally.result();
    // Never merged on a conflicting key: such a series goes to quarantine, where an operator sees why.
    const conflict = identityReason(
      tally.keys,
      tally.instances,
      cfg.hospitalProject,
      target === 'hospital' ? deps.studySession : undefined,
    );
    const to = conflict ? 'quarantine' : target;
    const project = to === 'hospital' ? cfg.hospitalProject : cfg.quarantineProject;
    const why = conflict ? (target === 'quarantine' ? [...reasons, conflict] : [conflict]) : reasons;
    return { target: to, project, reasons: why, rulesHash: rules.hash, rt };
  }

  /** The reason an RT group gets in `explain` when what it refers to is not among the files. */
  function waitReason(
    rt: RtReferences,
    present: { sops: Set<string>; series: Set<string> },
    instances: number,
  ): RouteReason | null {
    const series = rt.seriesUids.filter((s) => !present.series.has(s)).length;
    const sops = rt.sopInstanceUids.filter((s) => !present.sops.has(s)).length;
    if (series === 0 && sops === 0) {
      return null;
    }
    const missing = `${String(series)} series and ${String(sops)} instances not among these files`;
    return {
      rule: 'rt:waits-for-images',
      source: 'rt',
      instances,
      message: `Waits up to ${hours(cfg.rtWaitMs)} h for its referenced images (${missing}), then goes to quarantine if they do not arrive.`,
    };
  }

  async function explain(
    paths: readonly string[],
    signal: AbortSignal,
  ): Promise<{ series: ExplainedSeries[]; skipped: { path: string; reason: string }[] }> {
    const skipped: { path: string; reason: string }[] = [];
    const files = await listFiles(paths, skipped);
    const rules = source.current();
    const groups = new Map<string, { first: number; study: string; series: string; tally: Tally }>();
    const present = { sops: new Set<string>(), series: new Set<string>() };
    const groupOf = (study: string, series: string, index: number): Tally => {
      const key = `${study}|${series}`;
      let g = groups.get(key);
      if (!g) {
        g = { first: index, study, series, tally: createTally(rules) };
        groups.set(key, g);
      }
      g.first = Math.min(g.first, index);
      return g.tally;
    };
    await eachLimited(files, PARALLEL_READS, signal, async (path, index) => {
      const s = await sniffFile(path).catch((err: unknown) => ({
        kind: 'not-dicom' as const,
        reason: `cannot be read (${failureOf(err)})`,
      }));
      if (s.kind === 'not-dicom' || s.kind === 'invalid' || s.kind === 'dicomdir') {
        skipped.push({
          path,
          reason:
            s.kind === 'dicomdir'
              ? 'a DICOMDIR (media index), not an instance'
              : s.kind === 'invalid'
                ? `DICOM, but not usable: ${s.reason}`
                : s.reason,
        });
        return;
      }
      try {
        const r = await readInstance(path, s);
        groupOf(r.studyInstanceUid, r.seriesInstanceUid, index).instance(r);
        present.sops.add(r.sopInstanceUid);
        present.series.add(r.seriesInstanceUid);
      } catch (err) {
        signal.throwIfAborted();
        // Fail closed as decide does: the file's series (when its UIDs can be read) goes to quarantine.
        const keys = await readHeader(path, s.datasetOffset, s.transferSyntaxUid, [
          'StudyInstanceUID',
          'SeriesInstanceUID',
        ]).catch(() => null);
        if (keys?.SeriesInstanceUID) {
          groupOf(keys.StudyInstanceUID ?? '', keys.SeriesInstanceUID, index).unreadable();
        } else {
          skipped.push({ path, reason: `DICOM, but its header cannot be read (${failureOf(err)})` });
        }
      }
    });
    const series = [...groups.values()]
      .sort((a, b) => a.first - b.first)
      .map((g): ExplainedSeries => {
        const d = decision(g.tally, rules);
        const wait = d.rt ? waitReason(d.rt, present, g.tally.instances) : null;
        return {
          studyInstanceUid: g.study,
          seriesInstanceUid: g.series,
          modality: g.tally.modality,
          instances: g.tally.instances,
          decision: wait ? { ...d, reasons: [...d.reasons, wait] } : d,
        };
      });
    skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    return { series, skipped };
  }

  return {
    id: 'route',
    async decide(series, signal) {
      signal.throwIfAborted();
      const rules = source.current();
      const tally = createTally(rules);
      await eachLimited(series.instances, PARALLEL_READS, signal, async (instance) => {
        try {
          tally.instance(await readInstance(instance.path));
        } catch (err) {
          signal.throwIfAborted();
          ctx.log.warn(
            { seriesId: series.seriesId, instanceId: instance.instanceId, failure: failureOf(err) },
            'An instance header could not be read; its series goes to quarantine.',
          );
          ctx.log.debug(
            { seriesId: series.seriesId, instanceId: instance.instanceId, err },
            'Instance header read failure.',
          );
          tally.unreadable();
        }
      });
      const d = decision(tally, rules);
      ctx.log.debug(
        { seriesId: series.seriesId, target: d.target, rules: d.reasons.map((r) => r.rule), rulesHash: d.rulesHash },
        'Series routed.',
      );
      return d;
    },
    explain,
    rules: () => source.status(),
    start: () => {
      source.start();
    },
    close: () => source.close(),
  };
}
