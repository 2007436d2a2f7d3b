//! The lifecycle every component shares and the registry entry that builds one from its config slice.
// A component (source, transform, sink) is one folder plus one entry in its kind's registry
// (src/app/registry.ts). The composition root starts components in registry order and stops them in
// reverse; readiness and /status read `ready()` and `describe()` and never a component by name.
import type { Clock } from '../clock.ts';
import type { DaemonEvents } from '../events.ts';
import type { Logger } from '../log.ts';

/** What every component is built with: its logger (child with `component`), the clock, the events. */
export interface ComponentContext {
  readonly log: Logger;
  readonly clock: Clock;
  readonly events: DaemonEvents;
}

/** Whether a component can do its work now; `reason` is one PHI-free sentence when it cannot. */
export interface ComponentReadiness {
  readonly ready: boolean;
  readonly reason?: string;
}

/** What /status and the console show of a component: flat JSON, no patient data, no secrets. */
export type ComponentDescription = Readonly<Record<string, string | number | boolean | null>>;

/**
 * Started once, in order, by the composition root; stopped in reverse. `Host` is what the kind
 * hands its components at start: the Intake for a source, nothing for transforms and sinks.
 */
export interface Lifecycle<Host = void> {
  /** Its registry key (= its folder name = its config `type`), e.g. 'dimse', 'anonymise', 'xnat-rest'. */
  readonly type: string;
  /** Unique among the running components of its kind: the type, or the type numbered ('xnat-rest-2'). */
  readonly id: string;
  /** Acquire ports, watchers and timers; a source may call `host` only from here on. */
  start(host: Host): Promise<void>;
  /** Refuse new work, let in-flight work settle, release what `start` acquired. Idempotent. */
  stop(): Promise<void>;
  /** Cheap (called per /readyz request): no I/O beyond cached readings. */
  ready(): ComponentReadiness;
  describe(): ComponentDescription;
}

/**
 * One registry entry: the component's slice of the validated, frozen config (null when the
 * component is off) and its factory. `Deps` is what the kind's composition root offers every
 * component of that kind (stores, paths); an entry takes only what it needs from it.
 */
export interface RegistryEntry<Whole, Slice, Deps, Built> {
  /** How the console names work that came through this component ('import folder'); none: its type is enough. */
  readonly label?: string;
  /** Its heading on the console's overview ('DICOM receiver'); none: its type. */
  readonly title?: string;
  /** The config slice this component reads, or null when it is disabled in `config`. */
  slice(config: Whole): Slice | null;
  create(slice: Slice, ctx: ComponentContext, deps: Deps): Built;
}

/**
 * A registry whose components differ in what they offer beyond the lifecycle (the route transform
 * decides, anonymise rewrites): entry K builds `Builts[K]`, so the composition root keeps each type.
 */
export type TypedRegistry<
  Whole,
  Slices extends Record<string, unknown>,
  Deps,
  Builts extends Record<keyof Slices, unknown>,
> = {
  readonly [K in keyof Slices]: RegistryEntry<Whole, Slices[K], Deps, Builts[K]>;
};

/**
 * A registry: one entry per `type`. Keyed by the config schema's component keys, so a component
 * added to the schema does not compile until it has an entry, and an entry needs a schema key.
 */
export type Registry<Whole, Slices extends Record<string, unknown>, Deps, Built> = {
  readonly [K in keyof Slices]: RegistryEntry<Whole, Slices[K], Deps, Built>;
};
