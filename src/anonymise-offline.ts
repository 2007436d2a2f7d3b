//! `xnat-gateway anonymise IN OUT`: the daemon's de-identification engine, key and ledger, offline.
// A composition root like daemon.ts (it wires the transform's engine to the SQLite ledger); nothing
// is queued or sent. Input files are grouped into series by their UIDs, exactly as the daemon's
// assembler would, so labels, dates and UIDs come out as the daemon would produce them.
import { mkdir, readdir, rename, rm, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Config } from './config/schema.ts';
import { HeaderError } from './dicom/elements.ts';
import { createIoThreads } from './dicom/io-thread.ts';
import { readHeader } from './dicom/read.ts';
import { sniffFile } from './dicom/sniff.ts';
import { openDb } from './queue/db.ts';
import { createPseudonymLedger } from './queue/pseudonyms.ts';
import { layoutFor } from './spool/layout.ts';
import { settingsFor } from './transforms/anonymise/config.ts';
import { loadOrCreateKey } from './transforms/anonymise/keys.ts';
import { createScriptLoader } from './transforms/anonymise/script.ts';
import { ScriptRuntimeError } from './transforms/anonymise/dicomedit/errors.ts';
import { anonymiseSeries, type SeriesInput } from './transforms/anonymise/series.ts';

export interface OfflineSeriesResult {
  readonly instances: number;
  readonly outcome: 'done' | 'held' | 'failed';
  /** Output folder (done), or the reason (held, failed). No original identifiers. */
  readonly detail: string;
}

export interface OfflineSummary {
  readonly project: string;
  readonly profile: string;
  readonly keyId: string;
  readonly files: number;
  readonly skipped: number;
  readonly series: readonly OfflineSeriesResult[];
}

async function listFiles(path: string): Promise<string[]> {
  const st = await lstat(path);
  if (st.isFile()) {return [path];}
  if (!st.isDirectory()) {return [];}
  const out: string[] = [];
  for (const e of (await readdir(path, { withFileTypes: true })).sort((a, b) => a.name.localeCompare(b.name))) {
    if (e.isSymbolicLink()) {continue;}
    out.push(...(await listFiles(join(path, e.name))));
  }
  return out;
}

/** Groups DICOM files by (study, series); everything else is counted as skipped. */
async function groupSeries(files: readonly string[]): Promise<{ groups: Map<string, SeriesInput[]>; skipped: number }> {
  const groups = new Map<string, SeriesInput[]>();
  let skipped = 0;
  for (const path of files) {
    const s = await sniffFile(path);
    if (s.kind !== 'part10' && s.kind !== 'bare') {
      skipped++;
      continue;
    }
    const h = await readHeader(path, s.datasetOffset, s.transferSyntaxUid, ['StudyInstanceUID', 'SeriesInstanceUID']).catch(() => null);
    if (!h) {
      skipped++;
      continue;
    }
    const key = `${h.StudyInstanceUID ?? ''}|${h.SeriesInstanceUID ?? ''}`;
    const list = groups.get(key) ?? [];
    list.push({ path, datasetOffset: s.datasetOffset, transferSyntaxUid: s.transferSyntaxUid });
    groups.set(key, list);
  }
  return { groups, skipped };
}

export async function anonymiseOffline(cfg: Config, input: string, output: string, o: { project?: string | undefined }): Promise<OfflineSummary> {
  const project = o.project ?? cfg.route.hospitalProject;
  const settings = settingsFor(cfg.anonymise, project);
  const layout = layoutFor(cfg.dataDir);
  const db = openDb(layout.dbFile);
  const io = createIoThreads();
  try {
    const ledger = createPseudonymLedger(db);
    const { key } = await loadOrCreateKey(cfg.anonymise.keysDir ?? join(layout.dataDir, 'keys'), project);
    const script = settings.script ? createScriptLoader()(settings.script) : null;
    const files = await listFiles(input);
    const { groups, skipped } = await groupSeries(files);
    await mkdir(output, { recursive: true, mode: 0o750 });
    const results: OfflineSeriesResult[] = [];
    let n = 0;
    for (const inputs of groups.values()) {
      const work = join(output, `.work-${String(process.pid)}-${String(++n)}`);
      await mkdir(work, { recursive: true, mode: 0o700 });
      try {
        const r = await anonymiseSeries(inputs, work, { settings, key, ledger, script, now: () => Date.now(), io }).catch((err: unknown) => {
          if (err instanceof HeaderError) {return { kind: 'failed' as const, reason: `An instance could not be parsed (${err.message}).` };}
          if (err instanceof ScriptRuntimeError) {return { kind: 'failed' as const, reason: `The DicomEdit script failed at ${err.message}.` };}
          throw err;
        });
        if (r.kind !== 'done') {
          results.push({ instances: inputs.length, outcome: r.kind, detail: r.reason });
          continue;
        }
        // Same layout as the folder sink: project / subject / session / series / instance.
        const dir = join(output, r.labels.project, r.labels.subject, r.labels.session, r.seriesUid);
        await mkdir(dir, { recursive: true, mode: 0o750 });
        for (const inst of r.instances) {await rename(inst.path, join(dir, `${inst.sopInstanceUid}.dcm`));}
        results.push({ instances: inputs.length, outcome: 'done', detail: dir });
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    }
    return { project, profile: settings.profile, keyId: key.keyId, files: files.length, skipped, series: results };
  } finally {
    await io.close();
    db.close();
  }
}
