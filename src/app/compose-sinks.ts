//! Builds the configured sinks, names them, and says which sinks deliver which target project.
import { DaemonError } from '../errors.ts';
import type { Clock } from '../clock.ts';
import { sinkIds, sinksForProject, verifiersOf } from '../config/sinks.ts';
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
  /** How a C-STORE sink checks what XNAT built: over the REST access of the xnat-rest sink it names. */
  readonly verify?: VerifySession | undefined;
  /** This xnat-rest sink's REST client, shared with the C-STORE sinks it verifies. */
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

export { sinkIds };

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
  // A C-STORE sink has no REST access of its own: it names the xnat-rest sink of its XNAT
  // (verifyWith; the only one by default), whose credentials look the session up. One client (one
  // XNAT session) serves both, rather than a second login for the lookups. Config load has
  // already refused a verifyWith that names no xnat-rest sink.
  const verifiers = verifiersOf(cfg, []);
  const clients = new Map<number, XnatClient>();
  cfg.sinks.forEach((s, i) => {
    if (s.type === 'xnat-rest') {
      clients.set(i, createXnatClient(s, log.child({ component: `xnat-client:${ids[i] ?? s.type}` })));
    }
  });
  cfg.sinks.forEach((s, i) => {
    const id = ids[i] ?? s.type;
    const ctx = { log: log.child({ component: `sink:${id}` }), clock, events };
    const projects = s.projects ?? targets;
    const by = verifiers.get(i);
    const verifyClient = by === undefined || by === null ? undefined : clients.get(by);
    const client = clients.get(i);
    sinks.set(id, {
      ...build(s, ctx, {
        projects,
        verify: verifyClient ? createVerifier(verifyClient) : undefined,
        ...(client ? { client } : {}),
      }),
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
