//! The component registries: one entry per source and transform type, keyed by the config schema's keys.
// Adding a source is its folder (src/sources/<type>/: config.ts, index.ts exporting `create`), its
// schema key in config/schema.ts `sourceConfigs`, and one entry here; the compiler refuses an
// entry without a schema key and a schema key without an entry (docs/components.md).
import { join } from 'node:path';
import type { Config, SourceConfigs, TransformConfigs } from '../config/schema.ts';
import type { DropLedger, PseudonymLedger, Source, Transform } from '../contracts/component.ts';
import type { Registry, TypedRegistry } from '../contracts/lifecycle.ts';
import type { Layout } from '../spool/layout.ts';
import { create as createDimse } from '../sources/dimse/index.ts';
import { create as createFolder, type FolderSource } from '../sources/folder/index.ts';
import { create as createStow } from '../sources/stow/index.ts';
import { create as createAnonymise } from '../transforms/anonymise/index.ts';
import { createScriptLoader } from '../transforms/anonymise/script.ts';
import { isIdentifying } from '../transforms/anonymise/table.ts';
import { create as createRoute, type Route } from '../transforms/route/index.ts';

/** What the daemon offers every source factory; an entry takes what it needs. */
export interface SourceDeps {
  readonly layout: Layout;
  /** The folder source's durable progress ledger. */
  readonly ledger: DropLedger;
  /** log.fileNames: name rejected files in the log. */
  readonly logFileNames: boolean;
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

export const SOURCES: Registry<Config, SourceConfigs, SourceDeps, Source> = {
  dimse: {
    slice: (cfg) => (cfg.dimse.enabled ? cfg.dimse : null),
    create: (slice, ctx) => createDimse(slice, ctx),
  },
  folder: {
    label: 'import folder',
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
    // Off unless a port is set; the config check requires the token file with it.
    slice: (cfg) => (cfg.stow.port !== null ? cfg.stow : null),
    create: (slice, ctx) => createStow(slice, ctx),
  },
};

/** Every registered source type, in registry order (the start order; stop runs in reverse). */
export const SOURCE_TYPES: readonly string[] = Object.keys(SOURCES);

/** The console's names of the sources that have one (series-list rows mark their senders with it). */
export const SOURCE_LABELS: Readonly<Record<string, string>> = Object.fromEntries(
  Object.entries(SOURCES).flatMap(([type, entry]) => (entry.label === undefined ? [] : [[type, entry.label]])),
);

/** A built source with its type, in registry order. */
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

/** What the daemon offers every transform factory. */
export interface TransformDeps {
  /** The pseudonym ledger (SQLite-backed): anonymise labels subjects and sessions; route reads sessions. */
  readonly pseudonyms: PseudonymLedger;
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
