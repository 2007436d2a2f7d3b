//! Builds the configured sinks, names them, and says which sinks deliver which target project.
import { DaemonError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { sinksForProject } from '../config/sinks.ts';
import type { Config, SinkConfig } from '../config/schema.ts';
import { createEvents, type DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';
import { systemClock } from '../clock.ts';
import type { ComponentContext, Sink } from '../contracts/component.ts';
import { create as createFolderSink } from '../sinks/folder/index.ts';
import { create as createXnatRestSink } from '../sinks/xnat-rest/index.ts';
import { create as createXnatDimseSink } from '../sinks/xnat-dimse/index.ts';
import { createXnatClient, type XnatClient } from '../xnat/client.ts';
import { createVerifier } from '../xnat/verify.ts';
import type { VerifySession } from '../xnat/verify-types.ts';

/** What a sink factory may need beyond its own config. */
interface SinkDeps {
  /** Target projects this sink delivers (its healthcheck checks them in XNAT). */
  readonly projects: readonly string[];
  /** How a C-STORE sink checks what XNAT built: over the REST access of an xnat-rest sink, if any. */
  readonly verify?: VerifySession | undefined;
  /** The REST client of the first xnat-rest sink, shared with the C-STORE sinks' lookups. */
  readonly client?: XnatClient;
}

/** One factory per sink type: a type added to the config schema does not compile until it has one here. */
const SINK_FACTORIES: {
  [K in SinkConfig['type']]: (s: Extract<SinkConfig, { type: K }>, ctx: ComponentContext, deps: SinkDeps) => Sink;
} = {
  folder: (s, ctx) => createFolderSink({ path: s.path ?? '' }, ctx),
  'xnat-rest': (s, ctx, deps) =>
    createXnatRestSink(s, ctx, { projects: deps.projects, ...(deps.client ? { client: deps.client } : {}) }),
  'xnat-dimse': (s, ctx, deps) => createXnatDimseSink(s, ctx, deps.verify ? { verify: deps.verify } : {}),
};

/** Sink ids, in config order: the type, numbered when there are several sinks. */
export function sinkIds(cfg: Config): string[] {
  return cfg.sinks.map((s, i) => (cfg.sinks.length === 1 ? s.type : `${s.type}-${String(i + 1)}`));
}

/** The sink ids delivering `project` (a series fans out into one job per sink). */
export function sinksFor(cfg: Config): (project: string) => readonly string[] {
  const ids = sinkIds(cfg);
  return (project) => sinksForProject(cfg, ids, project);
}

function build(s: SinkConfig, ctx: ComponentContext, deps: SinkDeps): Sink {
  // The mapped type pairs each factory with its config type; indexing by a union loses that pairing.
  const factory = SINK_FACTORIES[s.type] as (c: SinkConfig, x: ComponentContext, d: SinkDeps) => Sink;
  return factory(s, ctx, deps);
}

export function buildSinks(cfg: Config, log: Logger, clock: Clock, events: DaemonEvents): Map<string, Sink> {
  const sinks = new Map<string, Sink>();
  const ids = sinkIds(cfg);
  const targets = [cfg.route.hospitalProject, cfg.route.quarantineProject];
  // A C-STORE sink has no REST access of its own; when the config has an xnat-rest sink (the same
  // XNAT, in the usual single-XNAT setup), its credentials are used to look the session up.
  // One client (one XNAT session) serves both, rather than a second login for the lookups.
  const rest = cfg.sinks.find((s) => s.type === 'xnat-rest');
  const restClient = rest ? createXnatClient(rest, log.child({ component: 'xnat-client' })) : undefined;
  const verify = restClient ? createVerifier(restClient) : undefined;
  cfg.sinks.forEach((s, i) => {
    const id = ids[i] ?? s.type;
    const ctx = { log: log.child({ component: `sink:${id}` }), clock, events };
    const projects = s.projects ?? targets;
    sinks.set(id, {
      ...build(s, ctx, { projects, verify, ...(s === rest && restClient ? { client: restClient } : {}) }),
      id,
    });
  });
  return sinks;
}

/** One failed sink healthcheck: `unreachable` when retrying may help (no answer), false when the sink refused (credentials, project, AE). */
export interface SinkProblem {
  readonly sink: string;
  readonly message: string;
  readonly unreachable: boolean;
}

/** Runs every sink's healthcheck (for `check-config`); returns one problem per failing sink. */
export async function checkSinks(cfg: Config, log: Logger): Promise<SinkProblem[]> {
  const problems: SinkProblem[] = [];
  for (const [id, sink] of buildSinks(cfg, log, systemClock, createEvents())) {
    await sink.healthcheck(AbortSignal.timeout(15_000)).catch((err: unknown) => {
      const retryable = err instanceof DaemonError ? err.retryable : true;
      problems.push({ sink: id, message: err instanceof Error ? err.message : String(err), unreachable: retryable });
    });
  }
  return problems;
}
