//! `xnat-gateway anonymise IN OUT`: the daemon's de-identification engine, key and ledger, offline.
// A composition root like daemon.ts (it wires the transform's engine to the SQLite ledger and the
// route component's burned-in rules); nothing is queued or sent. Input files are grouped into
// series by their UIDs, exactly as the daemon's assembler would, so labels, dates and UIDs come
// out as the daemon would produce them. Every input file ends up written or listed with the
// reason it was not (an operator must never have to guess what happened to a file).
import { mkdir, readdir, rename, rm, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { HeaderError } from '../dicom/elements.ts';
import { createIoThreads, type IoThreads } from '../dicom/io-thread.ts';
import { readHeader } from '../dicom/read.ts';
import { sniffFile } from '../dicom/sniff.ts';
import { openDb } from '../store/sqlite/db.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { layoutFor } from '../spool/layout.ts';
import { settingsFor } from '../transforms/anonymise/config.ts';
import { loadOrCreateKey } from '../transforms/anonymise/keys.ts';
import { createScriptLoader } from '../transforms/anonymise/script.ts';
import { ScriptRuntimeError } from '../transforms/anonymise/dicomedit/errors.ts';
import { anonymiseSeries } from '../transforms/anonymise/series.ts';
import {
  InstanceReadError,
  type SeriesDeps,
  type SeriesInput,
  type SeriesOutcome,
} from '../transforms/anonymise/series-types.ts';
import { burnedInReasons, compileBuiltin, type Builtin } from '../transforms/route/builtin.ts';
import { readInstance } from '../transforms/route/instance-view.ts';

export interface OfflineSeriesResult {
  readonly instances: number;
  /** refused: the built-in burned-in rules flagged it (use --allow-burned-in). */
  readonly outcome: 'done' | 'held' | 'failed' | 'refused';
  /** Output folder (done), or the reason (held, failed, refused). No original identifiers. */
  readonly detail: string;
  /** The input files of a series that was not written. */
  readonly files: readonly string[];
}

/** An input file that is in no series. `dicom`: a DICOM file that could not be processed (exit 65). */
export interface OfflineSkip {
  readonly path: string;
  readonly reason: string;
  readonly dicom: boolean;
}

export interface OfflineSummary {
  readonly project: string;
  readonly profile: string;
  readonly keyId: string;
  readonly files: number;
  readonly skipped: readonly OfflineSkip[];
  readonly series: readonly OfflineSeriesResult[];
}

export interface OfflineOptions {
  readonly project?: string | undefined;
  /** De-identify series the built-in burned-in rules flag (the daemon would quarantine them). */
  readonly allowBurnedIn?: boolean | undefined;
}

async function listFiles(path: string): Promise<string[]> {
  const st = await lstat(path);
  if (st.isFile()) {
    return [path];
  }
  if (!st.isDirectory()) {
    return [];
  }
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isSymbolicLink()) {
      continue;
    }
    out.push(...(await listFiles(join(path, e.name))));
  }
  return out;
}

function messageOf(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code ?? (err instanceof Error ? err.message : String(err));
}

/** Groups DICOM instances by (study, series); every other file is listed with its reason. */
async function groupSeries(files: readonly string[], skipped: OfflineSkip[]): Promise<Map<string, SeriesInput[]>> {
  const groups = new Map<string, SeriesInput[]>();
  for (const path of files) {
    const s = await sniffFile(path).catch((err: unknown) => ({
      kind: 'unreadable' as const,
      reason: `cannot be read (${messageOf(err)})`,
    }));
    if (s.kind === 'unreadable') {
      // Whether it is DICOM cannot be told: counted as one, so the run does not pass for complete.
      skipped.push({ path, reason: s.reason, dicom: true });
      continue;
    }
    if (s.kind === 'not-dicom') {
      skipped.push({ path, reason: /^not DICOM/i.test(s.reason) ? s.reason : `not DICOM: ${s.reason}`, dicom: false });
      continue;
    }
    if (s.kind === 'dicomdir') {
      skipped.push({ path, reason: 'a DICOMDIR (media index), not an instance', dicom: false });
      continue;
    }
    if (s.kind === 'invalid') {
      skipped.push({ path, reason: `DICOM, but not an instance that can be de-identified: ${s.reason}`, dicom: true });
      continue;
    }
    let h;
    try {
      h = await readHeader(path, s.datasetOffset, s.transferSyntaxUid, ['StudyInstanceUID', 'SeriesInstanceUID']);
    } catch (err) {
      skipped.push({ path, reason: `DICOM, but its header cannot be read (${messageOf(err)})`, dicom: true });
      continue;
    }
    const key = `${h.StudyInstanceUID ?? ''}|${h.SeriesInstanceUID ?? ''}`;
    const list = groups.get(key) ?? [];
    list.push({
      path,
      datasetOffset: s.datasetOffset,
      transferSyntaxUid: s.transferSyntaxUid,
      sopInstanceUid: s.sopInstanceUid,
      sopClassUid: s.sopClassUid,
    });
    groups.set(key, list);
  }
  return groups;
}

/**
 * The built-in burned-in rules over every instance of a series, as the daemon's router applies
 * them: the reasons (rule and message, no values), or none. An instance whose header cannot be
 * read is left to the engine, which names it.
 */
async function burnedIn(builtin: Builtin, inputs: readonly SeriesInput[]): Promise<string[]> {
  const reasons = new Map<string, string>();
  for (const input of inputs) {
    let view;
    try {
      view = (await readInstance(input.path, input)).view;
    } catch (err) {
      if (err instanceof HeaderError) {
        continue;
      }
      throw err;
    }
    for (const r of burnedInReasons(builtin, view, () => undefined)) {
      reasons.set(r.rule, `${r.message} (${r.rule})`);
    }
  }
  return [...reasons.values()];
}

type EngineDeps = Omit<SeriesDeps, 'refuseBurnedIn'> & { readonly io: IoThreads };

/**
 * De-identifies one series into `work`. An instance that cannot be parsed is listed in `skipped`
 * and the series is de-identified again without it, so one broken file does not cost its series.
 */
async function runSeries(
  inputs: readonly SeriesInput[],
  work: string,
  deps: EngineDeps,
  refuseBurnedIn: boolean,
  skipped: OfflineSkip[],
): Promise<{ outcome: SeriesOutcome; inputs: readonly SeriesInput[] }> {
  let remaining = inputs;
  for (;;) {
    await rm(work, { recursive: true, force: true });
    await mkdir(work, { recursive: true, mode: 0o700 });
    try {
      return { outcome: await anonymiseSeries(remaining, work, { ...deps, refuseBurnedIn }), inputs: remaining };
    } catch (err) {
      if (err instanceof InstanceReadError) {
        const bad = remaining[err.index];
        if (bad) {
          skipped.push({
            path: bad.path,
            reason: `DICOM, but it cannot be parsed for de-identification (${err.message})`,
            dicom: true,
          });
        }
        remaining = remaining.filter((_, i) => i !== err.index);
        if (remaining.length === 0) {
          return {
            outcome: { kind: 'failed', reason: 'No instance of the series could be parsed.' },
            inputs: remaining,
          };
        }
        continue;
      }
      if (err instanceof HeaderError) {
        return {
          outcome: { kind: 'failed', reason: `An instance could not be parsed (${err.message}).` },
          inputs: remaining,
        };
      }
      if (err instanceof ScriptRuntimeError) {
        return {
          outcome: { kind: 'failed', reason: `The DicomEdit script failed at ${err.message}.` },
          inputs: remaining,
        };
      }
      throw err;
    }
  }
}

/**
 * Every input file not written must be listed: a file with neither (a defect) is listed as not
 * processed, so the run exits 65 instead of passing for complete.
 */
export function unaccounted(
  files: readonly string[],
  written: ReadonlySet<string>,
  skipped: readonly OfflineSkip[],
  series: readonly OfflineSeriesResult[],
): string[] {
  const listed = new Set([...written, ...skipped.map((s) => s.path), ...series.flatMap((r) => r.files)]);
  return files.filter((f) => !listed.has(f));
}

export async function anonymiseOffline(
  cfg: Config,
  input: string,
  output: string,
  o: OfflineOptions = {},
): Promise<OfflineSummary> {
  const project = o.project ?? cfg.route.hospitalProject;
  const settings = settingsFor(cfg.anonymise, project);
  const layout = layoutFor(cfg.dataDir);
  const problems: string[] = [];
  const builtin = compileBuiltin(cfg.route.builtin, problems);
  if (problems.length) {
    throw new Error(`route.builtin: ${problems.join('; ')}`);
  }
  const db = openDb(layout.dbFile);
  const io = createIoThreads();
  try {
    const ledger = createPseudonymLedger(db);
    const { key } = await loadOrCreateKey(cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys'), project);
    const script = settings.script ? createScriptLoader()(settings.script) : null;
    const files = await listFiles(input);
    const skipped: OfflineSkip[] = [];
    const groups = await groupSeries(files, skipped);
    await mkdir(output, { recursive: true, mode: 0o750 });
    const results: OfflineSeriesResult[] = [];
    const written = new Set<string>();
    const checkPixels = !o.allowBurnedIn && builtin.burnedIn.enabled;
    let n = 0;
    for (const inputs of groups.values()) {
      const files = inputs.map((i) => i.path);
      const risks = checkPixels ? await burnedIn(builtin, inputs) : [];
      if (risks.length) {
        results.push({
          instances: inputs.length,
          outcome: 'refused',
          files,
          detail: `The series may carry patient data in its pixels: ${risks.join('; ')}. The daemon would quarantine it; de-identify it anyway with --allow-burned-in.`,
        });
        continue;
      }
      const work = join(output, `.work-${String(process.pid)}-${String(++n)}`);
      try {
        const r = await runSeries(
          inputs,
          work,
          { settings, key, ledger, script, now: () => Date.now(), io },
          !o.allowBurnedIn,
          skipped,
        );
        const used = r.inputs.map((i) => i.path);
        if (r.outcome.kind !== 'done') {
          results.push({ instances: used.length, outcome: r.outcome.kind, detail: r.outcome.reason, files: used });
          continue;
        }
        // Same layout as the folder sink: project / subject / session / series / instance.
        const out = r.outcome;
        const dir = join(output, out.labels.project, out.labels.subject, out.labels.session, out.seriesUid);
        await mkdir(dir, { recursive: true, mode: 0o750 });
        for (const inst of out.instances) {
          await rename(inst.path, join(dir, `${inst.sopInstanceUid}.dcm`));
        }
        for (const f of used) {
          written.add(f);
        }
        const left = inputs.length - used.length;
        const note = left
          ? ` (${String(left)} file(s) of this series could not be parsed and are listed as not processed)`
          : '';
        results.push({ instances: used.length, outcome: 'done', detail: `${dir}${note}`, files: [] });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
    for (const path of unaccounted(files, written, skipped, results)) {
      skipped.push({ path, reason: 'not processed (no outcome was recorded for it)', dicom: true });
    }
    return { project, profile: settings.profile, keyId: key.keyId, files: files.length, skipped, series: results };
  } finally {
    await io.close();
    db.close();
  }
}
