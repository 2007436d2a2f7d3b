//! The component registries: one entry per source and transform type, keyed by the config schema's keys.
// Adding a source is its folder (src/sources/<type>/: config.ts, index.ts exporting `create`), its
// schema key in config/schema.ts `sourceConfigs`, and one entry here; the compiler refuses an
// entry without a schema key and a schema key without an entry (docs/components.md).
import { join } from 'node:path';
import type { Config, SourceConfigs, TransformConfigs } from '../config/schema.ts';
import type { Transform } from '../contracts/component.ts';
import type { PseudonymLedger } from '../contracts/pseudonyms.ts';
import type { DropLedger } from '../contracts/drops.ts';
import type { GivenLabels, Source, StudyLabels } from '../contracts/source.ts';
import type { Registry, TypedRegistry } from '../contracts/lifecycle.ts';
import type { Layout } from '../spool/layout.ts';
import { create as createDimse } from '../sources/dimse/index.ts';
import { create as createFolder, type FolderSource } from '../sources/folder/index.ts';
import { create as createPull, type PullSlice, type PullSource } from '../sources/pull/index.ts';
import { create as createStow } from '../sources/stow/index.ts';
import type { Db } from '../store/sqlite/db.ts';
import type { UnitOfWork } from '../store/unit-of-work.ts';
import { composePullDeps } from './compose-pull.ts';
import { create as createAnonymise } from '../transforms/anonymise/index.ts';
import { createScriptLoader } from '../transforms/anonymise/script.ts';
import { isIdentifying } from '../transforms/anonymise/table.ts';
import { create as createRoute, type Route } from '../transforms/route/index.ts';

/** What the daemon offers every source factory; an entry takes what it needs. */
export interface SourceDeps {
  readonly layout: Layout;
  /** The database an entry builds its source's stores over (src/store/sqlite/). */
  readonly db: Db;
  /** The folder source's durable progress ledger. */
  readonly ledger: DropLedger;
  /** log.fileNames: name rejected files in the log. */
  readonly logFileNames: boolean;
  /** Completes named series' batches without the quiet period (the assembler's completeWhenFree). */
  readonly completeSeries?: (studyInstanceUid: string, seriesInstanceUids: readonly string[]) => Promise<void>;
}

/** The watched import folder's paths: `root` is the folder, or the parent of a one-shot import. */
export function folderPaths(
  slice: SourceConfigs['folder'],
  layout: Layout,
  root: string,
): { root: string; processedDir: string; rejectedDir: string; workDir: string } {
  return {
    root,
    processedDir: slice.processedDir ?? join(layout.dataDir, 'processed'),
    rejectedDir: slice.rejectedDir ?? join(layout.dataDir, 'rejected'),
    workDir: layout.workDir,
  };
}

/**
 * What each entry's `slice` returns: its schema key's value, except for `pull`, whose slice also
 * carries the `pacs:` list, the DICOM receiver's AE title (the C-MOVE destination) and the sinks
 * whose deliveries it follows.
 */
export type SourceSlices = Omit<SourceConfigs, 'pull'> & {
  pull: PullSlice & { readonly sinks: Config['sinks'] };
};

export const SOURCES: Registry<Config, SourceSlices, SourceDeps, Source> = {
  dimse: {
    title: 'DICOM receiver',
    slice: (cfg) => (cfg.dimse.enabled ? cfg.dimse : null),
    create: (slice, ctx) => createDimse(slice, ctx),
  },
  folder: {
    label: 'import folder',
    title: 'Import folder',
    slice: (cfg) => (cfg.folder.enabled ? cfg.folder : null),
    create: (slice, ctx, deps): FolderSource =>
      createFolder(slice, {
        ...ctx,
        ledger: deps.ledger,
        paths: folderPaths(slice, deps.layout, slice.path ?? join(deps.layout.dataDir, 'import')),
        logFileNames: deps.logFileNames,
      }),
  },
  stow: {
    label: 'STOW-RS',
    title: 'STOW-RS receiver',
    // Off unless a port is set; the config check requires the token file with it.
    slice: (cfg) => (cfg.stow.port !== null ? cfg.stow : null),
    create: (slice, ctx) => createStow(slice, ctx),
  },
  pull: {
    label: 'PACS pull',
    title: 'Pulls from PACS',
    // Off while no PACS is listed; a C-MOVE's instances come to the DICOM receiver's AE title.
    slice: (cfg) =>
      cfg.pacs.length > 0
        ? { pull: cfg.pull, pacs: cfg.pacs, destinationAe: cfg.dimse.aeTitle, sinks: cfg.sinks }
        : null,
    create: (slice, ctx, deps): PullSource =>
      createPull(slice, ctx, {
        ...composePullDeps(slice.sinks, deps.db, ctx.log),
        ...(deps.completeSeries ? { completeSeries: deps.completeSeries } : {}),
      }),
  },
};

/** Every registered source type, in registry order (the start order; stop runs in reverse). */
export const SOURCE_TYPES: readonly string[] = Object.keys(SOURCES);

/** The console's names of the sources that have one (series-list rows mark their senders with it). */
export const SOURCE_LABELS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SOURCES).flatMap(([type, entry]) => (entry.label === undefined ? [] : [[type, entry.label]])),
);

/** The headings of the sources' cards on the console's overview, by type. */
export const SOURCE_TITLES: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SOURCES).map(([type, entry]) => [type, entry.title ?? type]),
);

/** A built source with its type, in registry order. */
/** Each listening source's bound port by type, read from its describe() (null while it is not bound). */
export function sourcePorts(sources: readonly BuiltSource[]): Record<string, number | null> {
  const bound: Record<string, number | null> = {};
  for (const { type, source } of sources) {
    const port = source.describe().port;
    if (port !== undefined) {
      bound[type] = typeof port === 'number' ? port : null;
    }
  }
  return bound;
}

export interface BuiltSource {
  readonly type: keyof typeof SOURCES;
  readonly source: Source;
}

/** Builds the enabled sources, in registry order; `ctx` makes each its component context. */
export function buildSources(
  cfg: Config,
  ctx: (type: string) => Parameters<(typeof SOURCES)['dimse']['create']>[1],
  deps: SourceDeps,
): BuiltSource[] {
  const built: BuiltSource[] = [];
  for (const type of Object.keys(SOURCES) as (keyof typeof SOURCES)[]) {
    // Each entry pairs its own slice type with its factory; the loop over the union loses that pairing.
    const entry = SOURCES[type] as Registry<Config, Record<string, unknown>, SourceDeps, Source>[string];
    const slice = entry.slice(cfg);
    if (slice !== null) {
      built.push({ type, source: entry.create(slice, ctx(type), deps) });
    }
  }
  return built;
}

/** The running pull source, or null (the status server's /pulls routes and the console's Pulls page read it). */
export function pullSourceOf(sources: readonly BuiltSource[]): PullSource | null {
  return (sources.find((s) => s.type === 'pull')?.source as PullSource | undefined) ?? null;
}

/** The PACS the pull source works with, for /metrics (whether each answers C-ECHO, its circuit); none without it. */
export function pacsGauges(
  sources: readonly BuiltSource[],
): { name: string; up: boolean | null; circuitOpen: boolean }[] {
  return (pullSourceOf(sources)?.pacs() ?? []).map((p) => ({
    name: p.name,
    up: p.echo ? p.echo.ok : null,
    circuitOpen: p.circuit !== null && p.circuit.state !== 'closed',
  }));
}

/** Every source's study labels as one: the first source that knows a study answers (src/contracts/source.ts). */
export function studyLabelsOf(sources: readonly BuiltSource[]): StudyLabels {
  const labels = sources.flatMap(({ source }) => (source.studyLabels ? [source.studyLabels] : []));
  const first = async <T>(ask: (l: StudyLabels) => Promise<T | null>): Promise<T | null> => {
    for (const l of labels) {
      const v = await ask(l);
      if (v !== null) {
        return v;
      }
    }
    return null;
  };
  return {
    projectFor: (seriesId) => first((l) => l.projectFor(seriesId)),
    labelsFor: (project, studyUid) => first((l) => l.labelsFor(project, studyUid)),
  };
}

/**
 * The pseudonym ledger as the transforms see it: a study a source labelled (a pull row's Subject
 * and Session columns) is filed under those labels when its session is first assigned, and the
 * ledger records them, so its later series join that session. A study already filed keeps its
 * session; a session label taken by another study gets `_2`, … as any first label does. A label
 * the source did not give comes from the ledger as for any study (the patient's subject, the
 * session pattern under that subject).
 */
export function withStudyLabels(ledger: PseudonymLedger, labels: StudyLabels): PseudonymLedger {
  /**
   * What the source gave a study not filed yet in `project`; null once it is filed or when nothing
   * was given. A read decides what is assigned next: the caller runs both in one unit of work
   * (labelsFor, src/transforms/anonymise/identity.ts).
   */
  const given = async (project: string, studyUid: string): Promise<GivenLabels | null> =>
    (await ledger.studySession(project, studyUid)) ? null : labels.labelsFor(project, studyUid);
  return {
    // The patient keeps (or gets) a pseudonym only when the subject is not given: a listed
    // subject neither uses up a number of the pattern nor needs the lookup table.
    subject: async (q) =>
      (q.studyUid === undefined ? null : (await given(q.project, q.studyUid))?.subject) ?? ledger.subject(q),
    studySession: (project, studyUid) => ledger.studySession(project, studyUid),
    recordUids: (project, pairs, at) => ledger.recordUids(project, pairs, at),
    knownReplacements: (project, uids) => ledger.knownReplacements(project, uids),
    importLookup: (project, rows, at) => ledger.importLookup(project, rows, at),
    rows: (project) => ledger.rows(project),
    session: async (q) => {
      const g = await given(q.project, q.studyUid);
      return ledger.session({
        ...q,
        ...(g?.subject ? { subject: g.subject } : {}),
        ...(g?.session ? { firstLabel: g.session } : {}),
      });
    },
  };
}

/** What the daemon offers every transform factory. */
export interface TransformDeps {
  /** The pseudonym ledger (SQLite-backed): anonymise labels subjects and sessions; route reads sessions. */
  readonly pseudonyms: PseudonymLedger;
  /** The pseudonym ledger's unit of work: anonymise assigns a series' labels in one. */
  readonly uow: UnitOfWork;
  /** Where the project keys live (anonymise.keysDir or <dataDir>/keys). */
  readonly keysDir: string;
  /** route.hospitalProject: the project of series no rule names. */
  readonly defaultProject: string;
}

/**
 * The transforms, in the order a batch meets them: `route` decides the project once per batch in
 * the router (before any job), `anonymise` rewrites the batch once for all its sinks.
 */
export const TRANSFORMS: TypedRegistry<
  Config,
  TransformConfigs,
  TransformDeps,
  { route: Route; anonymise: Transform }
> = {
  route: {
    slice: (cfg) => cfg.route,
    create: (slice, ctx, deps) =>
      createRoute(slice, ctx, {
        identifying: isIdentifying,
        studySession: (project, studyUid) => deps.pseudonyms.studySession(project, studyUid),
      }),
  },
  anonymise: {
    slice: (cfg) => cfg.anonymise,
    create: (slice, ctx, deps) =>
      createAnonymise(slice, ctx, {
        ledger: deps.pseudonyms,
        uow: deps.uow,
        keysDir: deps.keysDir,
        script: createScriptLoader(),
        defaultProject: deps.defaultProject,
      }),
  },
};

/** Builds both transforms from the registry (each always present: its config has defaults). */
export function buildTransforms(
  cfg: Config,
  ctx: (type: string) => Parameters<(typeof TRANSFORMS)['route']['create']>[1],
  deps: TransformDeps,
): { route: Route; anonymise: Transform } {
  const route = TRANSFORMS.route.slice(cfg);
  const anonymise = TRANSFORMS.anonymise.slice(cfg);
  if (!route || !anonymise) {
    throw new Error('The route and anonymise transforms are always configured.');
  }
  return {
    // Rules were validated at config load; a file edited since then fails here, before anything starts.
    route: TRANSFORMS.route.create(route, ctx('route'), deps),
    anonymise: TRANSFORMS.anonymise.create(anonymise, ctx('anonymise'), deps),
  };
}
