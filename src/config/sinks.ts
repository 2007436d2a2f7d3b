//! The sinks section: the single-XNAT environment variables, path resolution, and one sink for every target project.
import { statSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import type { Config, SinkConfig } from './schema.ts';

/** Environment variables that configure delivery to one XNAT (containers), instead of a `sinks` list. */
export const XNAT_ENV = [
  {
    env: 'XNAT_GATEWAY_XNAT_URL',
    meaning: 'XNAT base URL: deliver by REST import (`xnat-rest` sink, `dest: archive`)',
  },
  { env: 'XNAT_GATEWAY_XNAT_USER', meaning: 'XNAT user, or an alias token (REST)' },
  { env: 'XNAT_GATEWAY_XNAT_PASSWORD_FILE', meaning: 'File holding the password or token secret (REST)' },
  {
    env: 'XNAT_GATEWAY_XNAT_DICOM',
    meaning: "`host:port:AE` of XNAT's DICOM receiver: deliver by C-STORE (`xnat-dimse` sink)",
  },
] as const;

const HOST_PORT_AE = /^(?<host>\[[0-9a-fA-F:]+\]|[^:\s]+):(?<port>\d{1,5}):(?<ae>[^\\\s][^\\]{0,15})$/;

/**
 * The sinks the XNAT_GATEWAY_XNAT_* variables describe, or null when none is set. Problems name the
 * variable. A config file that lists `sinks` itself must not also set them: which one wins would
 * be a guess, and a guess here sends patient data to the wrong place.
 */
export function sinksFromEnv(
  env: NodeJS.ProcessEnv,
  raw: Record<string, unknown>,
  problems: string[],
): unknown[] | null {
  const v = (k: string): string | undefined => (env[k] === undefined || env[k] === '' ? undefined : env[k]);
  const url = v('XNAT_GATEWAY_XNAT_URL');
  const dicom = v('XNAT_GATEWAY_XNAT_DICOM');
  if (url === undefined && dicom === undefined) {
    return null;
  }
  if (raw.sinks !== undefined) {
    problems.push(
      `sinks: set in the config file and by ${url !== undefined ? 'XNAT_GATEWAY_XNAT_URL' : 'XNAT_GATEWAY_XNAT_DICOM'}; use one or the other`,
    );
    return null;
  }
  const sinks: unknown[] = [];
  const before = problems.length;
  if (url !== undefined) {
    const user = v('XNAT_GATEWAY_XNAT_USER');
    const passwordFile = v('XNAT_GATEWAY_XNAT_PASSWORD_FILE');
    if (user === undefined) {
      problems.push('sinks (from XNAT_GATEWAY_XNAT_URL): XNAT_GATEWAY_XNAT_USER must be set too');
    }
    if (passwordFile === undefined) {
      problems.push('sinks (from XNAT_GATEWAY_XNAT_URL): XNAT_GATEWAY_XNAT_PASSWORD_FILE must be set too');
    }
    sinks.push({ type: 'xnat-rest', url, user, passwordFile });
  }
  if (dicom !== undefined) {
    const m = HOST_PORT_AE.exec(dicom.trim());
    const port = Number(m?.groups?.port);
    if (!m?.groups || port < 1 || port > 65535) {
      problems.push(`sinks (from XNAT_GATEWAY_XNAT_DICOM="${dicom}"): expected host:port:AE, e.g. xnat-web:8105:XNAT`);
    } else {
      sinks.push({
        type: 'xnat-dimse',
        host: m.groups.host?.replace(/^\[|\]$/g, ''),
        port,
        calledAe: m.groups.ae?.trim(),
      });
    }
  }
  // A half-described sink is reported once, by its variable, not again by the schema.
  return problems.length > before ? null : sinks;
}

/** Relative paths in sinks resolve like every other path (folder: under dataDir; secrets: beside the config). */
export function resolveSinkPaths(sinks: readonly SinkConfig[], dataDir: string, configDir: string): SinkConfig[] {
  return sinks.map((s) => {
    if (s.type === 'folder') {
      return { ...s, path: resolve(dataDir, s.path ?? 'outbox') };
    }
    if ('passwordFile' in s && s.passwordFile !== undefined && !isAbsolute(s.passwordFile)) {
      return { ...s, passwordFile: resolve(configDir, s.passwordFile) };
    }
    return s;
  });
}

/**
 * A password file must not be readable by group or others, like the admin token file: both are
 * secrets. A file that does not exist yet is reported at the first login (it is read at each one).
 */
export function checkSecretFiles(sinks: readonly SinkConfig[], problems: string[]): void {
  sinks.forEach((s, i) => {
    if (!('passwordFile' in s) || s.passwordFile === undefined) {
      return;
    }
    let mode: number;
    try {
      mode = statSync(s.passwordFile).mode;
    } catch {
      return;
    }
    if ((mode & 0o077) !== 0) {
      problems.push(
        `sinks.${String(i)}.passwordFile: ${s.passwordFile} is readable by others (mode ${(mode & 0o777).toString(8)}); chmod 600 it`,
      );
    }
  });
}

/** Every target project needs a sink, and a sink may only name target projects. */
export function checkSinkProjects(cfg: Config, problems: string[]): void {
  const targets = [cfg.route.hospitalProject, cfg.route.quarantineProject];
  cfg.sinks.forEach((s, i) => {
    for (const p of s.projects ?? []) {
      if (!targets.includes(p)) {
        problems.push(
          `sinks.${String(i)}.projects: ${p} is not a target project (route.hospitalProject ${targets[0] ?? ''}, route.quarantineProject ${targets[1] ?? ''})`,
        );
      }
    }
  });
  for (const p of targets) {
    if (!cfg.sinks.some((s) => s.projects === undefined || s.projects.includes(p))) {
      problems.push(
        `sinks: no sink delivers project ${p}; add it to a sink's projects (or leave projects out to deliver every project)`,
      );
    }
  }
}

/** Sink ids, in config order: the type, numbered by position when there are several sinks. */
export function sinkIds(cfg: Pick<Config, 'sinks'>): string[] {
  return cfg.sinks.map((s, i) => (cfg.sinks.length === 1 ? s.type : `${s.type}-${String(i + 1)}`));
}

/**
 * The xnat-rest sink that verifies each xnat-dimse sink (by position in `sinks`; null: not
 * verified): the one `verifyWith` names, else the only xnat-rest sink. With two XNATs, checking
 * deliveries to one against the other would report sessions missing that were delivered.
 */
export function verifiersOf(cfg: Pick<Config, 'sinks'>, problems: string[]): Map<number, number | null> {
  const ids = sinkIds(cfg);
  const rest = cfg.sinks.flatMap((s, i) => (s.type === 'xnat-rest' ? [i] : []));
  const out = new Map<number, number | null>();
  cfg.sinks.forEach((s, i) => {
    if (s.type !== 'xnat-dimse') {
      return;
    }
    const key = `sinks.${String(i)}.verifyWith`;
    if (s.verifyWith === undefined) {
      if (rest.length > 1) {
        problems.push(
          `${key}: there are ${String(rest.length)} xnat-rest sinks (${rest.map((r) => ids[r] ?? '').join(', ')}); name the one whose XNAT this sink delivers to`,
        );
      }
      out.set(i, rest.length === 1 ? (rest[0] ?? null) : null);
      return;
    }
    const at = ids.indexOf(s.verifyWith);
    if (at < 0 || cfg.sinks[at]?.type !== 'xnat-rest') {
      problems.push(
        `${key}: ${s.verifyWith} is not an xnat-rest sink id (${rest.length ? rest.map((r) => ids[r] ?? '').join(', ') : 'the config has none'})`,
      );
      out.set(i, null);
      return;
    }
    out.set(i, at);
  });
  return out;
}

/**
 * For each sink delivering to XNAT (by position), the xnat-rest sink whose REST access looks up
 * what it delivered: an xnat-rest sink its own, an xnat-dimse sink the one `verifyWith` names (or
 * the only one); null when none can (no xnat-rest sink names its XNAT). Folder sinks are absent.
 */
export function restAccessOf(cfg: Pick<Config, 'sinks'>): Map<number, number | null> {
  const dimse = verifiersOf(cfg, []);
  const out = new Map<number, number | null>();
  cfg.sinks.forEach((s, i) => {
    if (s.type === 'xnat-rest') {
      out.set(i, i);
    } else if (s.type === 'xnat-dimse') {
      out.set(i, dimse.get(i) ?? null);
    }
  });
  return out;
}

/** The sink ids (see sinkIds) that deliver `project`. */
export function sinksForProject(cfg: Config, ids: readonly string[], project: string): string[] {
  return cfg.sinks.flatMap((s, i) =>
    s.projects === undefined || s.projects.includes(project) ? [ids[i] ?? s.type] : [],
  );
}
