//! What a component's config may add to loading beyond its zod schema: environment overrides and a load-time check.
// The config loader applies every component's hooks the same way (src/config/load.ts, composed in
// src/config/schema.ts), so a component that reads files named in its config (tokens, keys) checks
// them at load and names its keys in the problems, without a line of its own in the loader.

/** An environment variable that overrides one config key. */
export interface EnvOverride {
  readonly env: string;
  /** The key's path from the top of the config, e.g. ['stow', 'port']. */
  readonly path: readonly string[];
  readonly type: 'int' | 'string';
}

/** Where a config was loaded from, and where its problems go. */
export interface ConfigLoadContext {
  /** The config file's folder: relative file names in a slice resolve against it. */
  readonly configDir: string;
  /** The absolute data directory. */
  readonly dataDir: string;
  /** One sentence per problem, starting with the key it concerns (`stow.tokenFile: …`). */
  readonly problems: string[];
}

/** A component's config hooks; `Slice` is its validated config slice. */
export interface ConfigHooks<Slice> {
  /** Variables that override keys of this component's slice (listed in docs/config.md). */
  readonly env?: readonly EnvOverride[];
  /** Resolves relative paths and checks what the schema cannot (files, modes); pushes problems, returns the slice. */
  resolve?(slice: Slice, at: ConfigLoadContext): Slice;
}
