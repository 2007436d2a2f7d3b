//! Resolves and checks the route section and the admin token file: rule files are parsed now, so a
//! bad protocol.txt or rules file is a config error naming the key and line, never a surprise later.
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import { isIdentifying } from '../transforms/anonymise/table.ts';
import type { RouteConfig } from '../transforms/route/config.ts';
import { buildRuleSet } from '../transforms/route/rule-set.ts';
import { loadRuleInputs } from '../transforms/route/rule-source.ts';
import { RuleFileError } from '../transforms/route/types.ts';

/** Rule file paths resolved against the config file's folder; every problem goes to `problems`. */
export function resolveRoute(r: RouteConfig, configDir: string, problems: string[]): RouteConfig {
  const out: RouteConfig = {
    ...r,
    protocolFile: r.protocolFile === null ? null : resolve(configDir, r.protocolFile),
    rulesFile: r.rulesFile === null ? null : resolve(configDir, r.rulesFile),
  };
  if (out.hospitalProject === out.quarantineProject) {
    problems.push(
      `route.quarantineProject: must differ from route.hospitalProject (${out.hospitalProject}), or nothing could be held back`,
    );
  }
  try {
    buildRuleSet(loadRuleInputs(out), { identifying: isIdentifying });
  } catch (err) {
    if (!(err instanceof RuleFileError)) {
      throw err;
    }
    for (const p of err.problems) {
      const key =
        out.protocolFile !== null && p.startsWith(out.protocolFile)
          ? 'route.protocolFile'
          : out.rulesFile !== null && p.startsWith(out.rulesFile)
            ? 'route.rulesFile'
            : 'route.builtin';
      problems.push(`${key}: ${p}`);
    }
  }
  return out;
}

/** The admin token file resolved; it must exist and not be readable by group or others (a secret). */
export function resolveAdminTokenFile(file: string | null, configDir: string, problems: string[]): string | null {
  return resolveSecretFile('http.adminTokenFile', file, configDir, problems);
}

/** A secret file at config key `key`, resolved: it must exist and not be readable by group or others. */
export function resolveSecretFile(
  key: string,
  file: string | null,
  configDir: string,
  problems: string[],
): string | null {
  if (file === null) {
    return null;
  }
  const abs = resolve(configDir, file);
  try {
    const st = statSync(abs);
    if ((st.mode & 0o077) !== 0) {
      problems.push(`${key}: ${abs} is readable by others (mode ${(st.mode & 0o777).toString(8)}); chmod 600 it`);
    }
  } catch (err) {
    problems.push(`${key}: cannot read ${abs} (${(err as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  return abs;
}
