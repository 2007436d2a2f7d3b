//! Loads the YAML config, applies environment overrides, validates everything at once, freezes it.
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, relative, resolve } from 'node:path';
import { parse as parseYaml, YAMLParseError } from 'yaml';
import { z } from 'zod';
import { configSchema, sourceConfigHooks, type Config, type SourceConfigs } from './schema.ts';
import { resolveAnonymisePaths } from './anonymise.ts';
import { resolveAdminTokenFile, resolveRoute, resolveSecretFile } from './route.ts';
import { checkSecretFiles, checkSinkProjects, resolveSinkPaths, sinksFromEnv, verifiersOf, XNAT_ENV } from './sinks.ts';
import type { NotifyConfig } from '../notify/config.ts';
import type { ConfigHooks, ConfigLoadContext, EnvOverride } from '../contracts/config-hooks.ts';

/** Environment variables that override config keys (for containers). */
export const ENV_OVERRIDES: readonly EnvOverride[] = [
  { env: 'XNAT_GATEWAY_DATA_DIR', path: ['dataDir'], type: 'string' },
  { env: 'XNAT_GATEWAY_NODE_ID', path: ['nodeId'], type: 'string' },
  { env: 'XNAT_GATEWAY_DIMSE_PORT', path: ['dimse', 'port'], type: 'int' },
  { env: 'XNAT_GATEWAY_AE_TITLE', path: ['dimse', 'aeTitle'], type: 'string' },
  { env: 'XNAT_GATEWAY_IMPORT_DIR', path: ['folder', 'path'], type: 'string' },
  { env: 'XNAT_GATEWAY_HTTP_PORT', path: ['http', 'port'], type: 'int' },
  { env: 'XNAT_GATEWAY_SERIES_QUIET_MS', path: ['series', 'quietPeriodMs'], type: 'int' },
  { env: 'XNAT_GATEWAY_HOSPITAL_PROJECT', path: ['route', 'hospitalProject'], type: 'string' },
  { env: 'XNAT_GATEWAY_QUARANTINE_PROJECT', path: ['route', 'quarantineProject'], type: 'string' },
  { env: 'XNAT_GATEWAY_PROTOCOL_FILE', path: ['route', 'protocolFile'], type: 'string' },
  { env: 'XNAT_GATEWAY_ADMIN_TOKEN_FILE', path: ['http', 'adminTokenFile'], type: 'string' },
  { env: 'XNAT_GATEWAY_HTTP_AUTH', path: ['http', 'auth'], type: 'string' },
  { env: 'XNAT_GATEWAY_ANON_PROFILE', path: ['anonymise', 'profile'], type: 'string' },
  // Each source's own variables (its config hooks), after the gateway's.
  ...Object.values(sourceConfigHooks).flatMap((h) => h.env ?? []),
];

/**
 * Variables with the gateway's prefix that are not config overrides but are known: docker-compose.yml
 * reads two when it interpolates (they never reach the container), the tests one.
 */
const OTHER_KNOWN_ENV = ['XNAT_GATEWAY_CONFIG', 'XNAT_GATEWAY_IMPORT_HOST_DIR', 'XNAT_GATEWAY_TEST_PEER_LOGS'];

/** Every variable the gateway reads. */
export const KNOWN_ENV: readonly string[] = [
  ...ENV_OVERRIDES.map((o) => o.env),
  ...XNAT_ENV.map((o) => o.env),
  ...OTHER_KNOWN_ENV,
];

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row.push(
        Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1)),
      );
    }
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/**
 * A problem for every XNAT_GATEWAY_* variable the gateway does not read, naming the nearest one:
 * a mistyped variable silently ignored would run the gateway with a setting the operator did not choose.
 */
export function unknownEnvProblems(env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const name of Object.keys(env).sort()) {
    if (!name.startsWith('XNAT_GATEWAY_') || KNOWN_ENV.includes(name)) {
      continue;
    }
    const nearest = [...ENV_OVERRIDES.map((o) => o.env), ...XNAT_ENV.map((o) => o.env)]
      .map((k) => ({ k, d: distance(name, k) }))
      .sort((x, y) => x.d - y.d)[0];
    problems.push(
      `${name}: not a variable xnat-gateway reads${nearest ? `; did you mean ${nearest.k}?` : ''} (README.md lists them)`,
    );
  }
  return problems;
}

/** Every problem found, each naming the key (and the variable or file it came from). */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  readonly problems: readonly string[];
  constructor(problems: string[]) {
    super(`Invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.problems = problems;
  }
}

function setPath(obj: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let o = obj;
  for (const key of path.slice(0, -1)) {
    const next = o[key];
    if (typeof next !== 'object' || next === null || Array.isArray(next)) {
      o[key] = {};
    }
    o = o[key] as Record<string, unknown>;
  }
  o[path[path.length - 1] ?? ''] = value;
}

/** SMTP password files are secrets (checked like the token file); CA files resolve beside the config. */
function resolveNotify(n: NotifyConfig, configDir: string, problems: string[]): NotifyConfig {
  return {
    ...n,
    channels: n.channels.map((c, i) =>
      c.type !== 'smtp'
        ? c
        : {
            ...c,
            passwordFile: resolveSecretFile(
              `notify.channels.${String(i)}.passwordFile`,
              c.passwordFile,
              configDir,
              problems,
            ),
            caFile: c.caFile === null ? null : resolve(configDir, c.caFile),
          },
    ),
  };
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) {
      deepFreeze(v);
    }
    Object.freeze(o);
  }
  return o;
}

/** Each source's load-time check (its config hooks' `resolve`), in schema order; problems go to `at`. */
function resolveSourceConfigs(cfg: Config, at: ConfigLoadContext): void {
  for (const key of Object.keys(sourceConfigHooks) as (keyof SourceConfigs)[]) {
    // Each hook is typed for its own key's slice; the loop over the union loses that pairing.
    const hooks = sourceConfigHooks[key] as ConfigHooks<SourceConfigs[typeof key]> | undefined;
    if (hooks?.resolve) {
      (cfg as Record<string, unknown>)[key] = hooks.resolve(cfg[key], at);
    }
  }
}

/**
 * Validates raw config data plus environment overrides. Relative paths resolve against `baseDir`,
 * DicomEdit script paths against `configDir` (the config file's folder).
 * Throws ConfigError listing every problem.
 */
export function buildConfig(
  raw: unknown,
  env: NodeJS.ProcessEnv,
  baseDir: string,
  origin = 'config',
  configDir = baseDir,
): Config {
  const problems: string[] = unknownEnvProblems(env);
  if (raw !== null && raw !== undefined && (typeof raw !== 'object' || Array.isArray(raw))) {
    throw new ConfigError([`${origin}: the top level must be a mapping`]);
  }
  // A copy: environment overrides must not write into the caller's object.
  const data = structuredClone((raw ?? {}) as Record<string, unknown>);
  const envKeys = new Map<string, string>();
  for (const o of ENV_OVERRIDES) {
    const v = env[o.env];
    if (v === undefined || v === '') {
      continue;
    }
    const key = o.path.join('.');
    envKeys.set(key, o.env);
    if (o.type === 'int') {
      if (!/^\d+$/.test(v.trim())) {
        problems.push(`${key} (from ${o.env}="${v}"): expected a whole number`);
        continue;
      }
      setPath(data, o.path, Number(v.trim()));
    } else {
      setPath(data, o.path, v);
    }
  }
  const envSinks = sinksFromEnv(env, data, problems);
  if (envSinks) {
    data.sinks = envSinks;
  }
  const parsed = configSchema.safeParse(data);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const key = issue.path.map(String).join('.') || '(top level)';
      const from = envKeys.get(key);
      problems.push(`${key}${from ? ` (from ${from})` : ''}: ${issue.message}`);
    }
  }
  if (problems.length || !parsed.success) {
    throw new ConfigError(problems);
  }
  const cfg = parsed.data;
  cfg.dataDir = isAbsolute(cfg.dataDir) ? cfg.dataDir : resolve(baseDir, cfg.dataDir);
  cfg.sinks = resolveSinkPaths(cfg.sinks, cfg.dataDir, configDir);
  // Scripts sit beside the config file that names them, like XNAT's project scripts beside its config.
  cfg.anonymise = resolveAnonymisePaths(cfg.anonymise, cfg.dataDir, configDir, problems);
  // Rule files and the token file sit beside the config file too (or are given absolute).
  cfg.route = resolveRoute(cfg.route, configDir, problems);
  cfg.http = {
    ...cfg.http,
    adminTokenFile: resolveAdminTokenFile(cfg.http.adminTokenFile, configDir, problems),
    passwordFile: resolveSecretFile('http.passwordFile', cfg.http.passwordFile, configDir, problems),
  };
  cfg.notify = resolveNotify(cfg.notify, configDir, problems);
  resolveSourceConfigs(cfg, { configDir, dataDir: cfg.dataDir, problems });
  checkSinkProjects(cfg, problems);
  verifiersOf(cfg, problems);
  checkSecretFiles(cfg.sinks, problems);
  if (problems.length) {
    throw new ConfigError(problems);
  }
  cfg.folder = {
    ...cfg.folder,
    path: resolve(cfg.dataDir, cfg.folder.path ?? 'import'),
    processedDir: resolve(cfg.dataDir, cfg.folder.processedDir ?? 'processed'),
    rejectedDir: resolve(cfg.dataDir, cfg.folder.rejectedDir ?? 'rejected'),
  };
  // Anything the gateway writes must live outside the import folder, or it would be imported again
  // (or, for the data directory, the spool and database would be read as drops).
  const inside = (child: string, parent: string): boolean => {
    const r = relative(parent, child);
    return !r.startsWith('..') && !isAbsolute(r);
  };
  if (cfg.folder.enabled) {
    const importDir = cfg.folder.path ?? '';
    const checks: [string, string][] = [
      ['dataDir', cfg.dataDir],
      ['folder.processedDir', cfg.folder.processedDir ?? ''],
      ['folder.rejectedDir', cfg.folder.rejectedDir ?? ''],
    ];
    for (const [key, dir] of checks) {
      if (inside(dir, importDir)) {
        problems.push(
          `${key}: ${dir} is inside the import folder folder.path (${importDir}); it would be imported again`,
        );
      }
    }
    if (problems.length) {
      throw new ConfigError(problems);
    }
  }
  return deepFreeze(cfg);
}

/** Reads and validates a YAML config file (or only defaults + environment when `file` is undefined). */
export function loadConfig(
  file: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
  cwd = process.cwd(),
): Config {
  if (!file) {
    return buildConfig({}, env, cwd, 'defaults');
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError([`${file}: cannot be read (${(err as NodeJS.ErrnoException).code ?? String(err)})`]);
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (err) {
    const where = err instanceof YAMLParseError && err.linePos ? ` line ${String(err.linePos[0].line)}` : '';
    throw new ConfigError([
      `${file}${where}: ${err instanceof Error ? (err.message.split('\n')[0] ?? '') : String(err)}`,
    ]);
  }
  return buildConfig(raw, env, cwd, file, dirname(resolve(cwd, file)));
}

/** JSON Schema of the config, for docs/config.md generation. */
export function configJsonSchema(): unknown {
  return z.toJSONSchema(configSchema, { io: 'input' });
}
