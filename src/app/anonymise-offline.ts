//! `xnat-gateway anonymise IN OUT`: the daemon's de-identification engine, key and ledger, offline.
// A composition root like daemon.ts (it wires the transform's engine to the SQLite ledger and the
// route component's burned-in rules); nothing is queued or sent. Input files are grouped into
// series by their UIDs, exactly as the daemon's assembler would, so labels, dates and UIDs come
// out as the daemon would produce them. Every input file ends up written or listed with the
// reason it was not (an operator must never have to guess what happened to a file).
import { mkdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from '../config/schema.ts';
import { createIoThreads } from '../dicom/io-thread.ts';
import { openDb } from '../store/sqlite/db.ts';
import { sqliteUnitOfWork } from '../store/sqlite/turns.ts';
import { createPseudonymLedger } from '../store/sqlite/pseudonyms.ts';
import { layoutFor } from '../spool/layout.ts';
import { settingsFor } from '../transforms/anonymise/config.ts';
import { loadOrCreateKey } from '../transforms/anonymise/keys.ts';
import { createScriptLoader } from '../transforms/anonymise/script.ts';
import { compileBuiltin } from '../transforms/route/builtin.ts';
import { groupSeries, listFiles, type OfflineSkip } from './offline-input.ts';
import { burnedIn, runSeries } from './offline-series.ts';

export interface OfflineSeriesResult {
  readonly instances: number;
  /** refused: the built-in burned-in rules flagged it (use --allow-burned-in). */
  readonly outcome: 'done' | 'held' | 'failed' | 'refused';
  /** Output folder (done), or the reason (held, failed, refused). No original identifiers. */
  readonly detail: string;
  /** The input files of a series that was not written. */
  readonly files: readonly string[];
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
          { settings, key, ledger, uow: sqliteUnitOfWork(db), script, now: () => Date.now(), io },
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
