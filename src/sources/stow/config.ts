//! Configuration of the `stow` source (DICOMweb STOW-RS, PS3.18 §10.5), and its checks at load.
import { readFileSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { createSecureContext } from 'node:tls';
import { z } from 'zod';
import type { ConfigHooks, ConfigLoadContext, EnvOverride } from '../../contracts/config-hooks.ts';
import { readTokenFile, TokenFileError } from './tokens.ts';

const GiB = 1024 ** 3;

export const stowConfig = z.strictObject({
  port: z.number().int().min(0).max(65535).nullable().default(null).meta({
    description:
      'TCP port of the STOW-RS listener (POST /dicom-web/studies[/{StudyInstanceUID}]); null (default): off (env XNAT_GATEWAY_STOW_PORT). 0 picks a free port.',
  }),
  host: z.string().default('0.0.0.0').meta({
    description:
      'Address the STOW-RS listener binds to. Without tlsCertFile it speaks plain HTTP: bearer tokens must then not cross an untrusted network.',
  }),
  tlsCertFile: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .meta({ description: 'PEM certificate (chain) to serve HTTPS with; set with tlsKeyFile. Read at start-up.' }),
  tlsKeyFile: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .meta({ description: 'PEM private key of tlsCertFile; mode 0600 or stricter. Read at start-up.' }),
  tokenFile: z.string().min(1).nullable().default(null).meta({
    description:
      'Bearer tokens of the senders, one `name:token` line each (tokens of at least 16 characters; `#` comments); mode 0600 or stricter. Required when port is set (env XNAT_GATEWAY_STOW_TOKEN_FILE). Re-read when it changes; the name is recorded as the sender.',
  }),
  maxRequestBytes: z
    .number()
    .int()
    .min(1024)
    .default(8 * GiB)
    .meta({
      description:
        'Largest request body; a bigger Content-Length is answered 413 before anything is read, a chunked body that grows past it is cut off with 413.',
    }),
  maxConcurrentRequests: z
    .number()
    .int()
    .min(1)
    .max(1000)
    .default(16)
    .meta({ description: 'Store requests handled at once; more are answered 503 with Retry-After.' }),
  idleTimeoutMs: z.number().int().min(1000).default(60_000).meta({
    description:
      'A request whose body sends nothing for this long is aborted (its instances in progress discarded, those stored kept).',
  }),
});
export type StowConfig = z.output<typeof stowConfig>;

/** The variables that switch STOW-RS on in a container without a config file. */
export const STOW_ENV: readonly EnvOverride[] = [
  { env: 'XNAT_GATEWAY_STOW_PORT', path: ['stow', 'port'], type: 'int' },
  { env: 'XNAT_GATEWAY_STOW_TOKEN_FILE', path: ['stow', 'tokenFile'], type: 'string' },
];

/** What the config loader applies for this source (src/contracts/config-hooks.ts). */
export const stowConfigHooks: ConfigHooks<StowConfig> = { env: STOW_ENV, resolve: resolveStowConfig };

/**
 * The token file resolved against the config file's folder and checked now, so a missing,
 * readable-by-others or malformed file is a config error naming the key rather than a listener
 * that refuses everyone.
 */
export function resolveStowConfig(c: StowConfig, { configDir, problems }: ConfigLoadContext): StowConfig {
  const tokenFile = c.tokenFile === null ? null : resolve(configDir, c.tokenFile);
  const tlsCertFile = c.tlsCertFile === null ? null : resolve(configDir, c.tlsCertFile);
  const tlsKeyFile = c.tlsKeyFile === null ? null : resolve(configDir, c.tlsKeyFile);
  if ((tlsCertFile === null) !== (tlsKeyFile === null)) {
    problems.push(
      `${tlsCertFile === null ? 'stow.tlsCertFile' : 'stow.tlsKeyFile'}: required with ${tlsCertFile === null ? 'stow.tlsKeyFile' : 'stow.tlsCertFile'}`,
    );
  }
  if (tlsCertFile !== null && tlsKeyFile !== null) {
    const problem = tlsProblem(tlsCertFile, tlsKeyFile);
    if (problem) {
      problems.push(problem);
    }
  }
  if (c.port !== null && tokenFile === null) {
    problems.push(
      'stow.tokenFile: required when stow.port is set (env XNAT_GATEWAY_STOW_TOKEN_FILE): STOW-RS is never open without tokens',
    );
  }
  if (tokenFile !== null) {
    try {
      readTokenFile(tokenFile);
    } catch (err) {
      if (!(err instanceof TokenFileError)) {
        throw err;
      }
      problems.push(`stow.tokenFile: ${err.message}`);
    }
  }
  return { ...c, tokenFile, tlsCertFile, tlsKeyFile };
}

/** The first problem with the certificate and key (unreadable, key readable by others, not a pair), or null. */
function tlsProblem(certFile: string, keyFile: string): string | null {
  let cert: Buffer;
  let key: Buffer;
  try {
    cert = readFileSync(certFile);
  } catch (err) {
    return `stow.tlsCertFile: cannot read ${certFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  try {
    const mode = statSync(keyFile).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      return `stow.tlsKeyFile: ${keyFile} is readable by others (mode ${mode.toString(8)}); chmod 600 it`;
    }
    key = readFileSync(keyFile);
  } catch (err) {
    return `stow.tlsKeyFile: cannot read ${keyFile} (${(err as NodeJS.ErrnoException).code ?? 'error'})`;
  }
  try {
    createSecureContext({ cert, key });
  } catch (err) {
    return `stow.tlsCertFile: ${certFile} and ${keyFile} are not a usable certificate and key (${err instanceof Error ? err.message : String(err)})`;
  }
  return null;
}
