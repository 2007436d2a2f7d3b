//! `explain`: files an operator points at, grouped into series and decided as `decide` would decide them.
// Offline and read-only: nothing is queued or written. RT objects cannot wait here as they do in the
// router, so a group whose referenced images are not among the files says what it would wait for.
import { lstat, readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { readHeader } from '../../dicom/read.ts';
import { sniffFile } from '../../dicom/sniff.ts';
import { eachLimited, failureOf, PARALLEL_READS } from './header-reads.ts';
import { readInstance } from './instance-view.ts';
import { createTally, type Tally } from './tally.ts';
import type { RouteReason, RtReferences, RuleSet, SeriesDecision } from './types.ts';

/** One series found by `explain`, with its decision. */
export interface ExplainedSeries {
  readonly studyInstanceUid: string;
  readonly seriesInstanceUid: string;
  readonly modality: string;
  readonly instances: number;
  readonly decision: SeriesDecision;
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

/** The reason an RT group gets in `explain` when what it refers to is not among the files. */
function waitReason(
  rt: RtReferences,
  present: { sops: Set<string>; series: Set<string> },
  instances: number,
  rtWaitMs: number,
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
    message: `Waits up to ${hours(rtWaitMs)} h for its referenced images (${missing}), then goes to quarantine if they do not arrive.`,
  };
}

/**
 * Groups the files under `paths` by (StudyInstanceUID, SeriesInstanceUID) and decides each group
 * as the route component does (`decide`), all by the rules in force once the files are listed;
 * files that are not usable DICOM are listed in `skipped` with a reason.
 */
export async function explainFiles(
  paths: readonly string[],
  signal: AbortSignal,
  currentRules: () => RuleSet,
  decide: (tally: Tally, rules: RuleSet) => Promise<SeriesDecision>,
  rtWaitMs: number,
): Promise<{ series: ExplainedSeries[]; skipped: { path: string; reason: string }[] }> {
  const skipped: { path: string; reason: string }[] = [];
  const files = await listFiles(paths, skipped);
  // One rule set for the whole run, as for a series: a reload meanwhile cannot split the answer.
  const rules = currentRules();
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
  const series: ExplainedSeries[] = [];
  for (const g of [...groups.values()].sort((a, b) => a.first - b.first)) {
    const d = await decide(g.tally, rules);
    const wait = d.rt ? waitReason(d.rt, present, g.tally.instances, rtWaitMs) : null;
    series.push({
      studyInstanceUid: g.study,
      seriesInstanceUid: g.series,
      modality: g.tally.modality,
      instances: g.tally.instances,
      decision: wait ? { ...d, reasons: [...d.reasons, wait] } : d,
    });
  }
  skipped.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return { series, skipped };
}
