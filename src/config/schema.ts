//! The whole configuration schema, composed from each component's own config.ts.
import { z } from 'zod';
import { dimseConfig } from '../sources/dimse/config.ts';
import { folderSinkConfig } from '../sinks/folder/config.ts';
import { xnatRestSinkConfig } from '../sinks/xnat-rest/config.ts';
import { xnatDimseSinkConfig } from '../sinks/xnat-dimse/config.ts';
import { folderSourceConfig } from '../sources/folder/config.ts';
import { stowConfig, stowConfigHooks } from '../sources/stow/config.ts';
import type { ConfigHooks } from '../contracts/config-hooks.ts';
import { anonymiseConfig } from '../transforms/anonymise/config.ts';
import { routeConfig } from '../transforms/route/config.ts';
import { notifyConfig } from '../notify/config.ts';
import { pacsListConfig, pullConfig } from '../sources/pull/config.ts';

const GiB = 1024 ** 3;

/** `spool.retainDelivered` in keep mode: delivered originals stay as a local copy, within caps. */
export const retainKeepConfig = z.strictObject({
  mode: z.literal('keep'),
  maxBytes: z.number().int().min(1).meta({
    description: 'Total size of the kept copies; beyond it the batches delivered longest ago are removed first.',
  }),
  maxAgeMs: z
    .number()
    .int()
    .min(60_000)
    .nullable()
    .default(null)
    .meta({ description: 'A kept copy is removed this long after it was delivered; null: only the size cap.' }),
});

export const spoolConfig = z.strictObject({
  minFreeBytes: z
    .number()
    .int()
    .min(0)
    .default(2 * GiB)
    .meta({
      description:
        'Free space on the data disk (and any disk the gateway writes to) that no writer may take: below it new associations are ' +
        'refused (reason 2), C-STOREs get 0xA700, drops and jobs wait, and /readyz is red. Every writer reserves its bytes above it ' +
        'before writing; what lies below is left to SQLite and the logs.',
    }),
  maxPendingInstances: z
    .number()
    .int()
    .min(1)
    .default(1_000_000)
    .meta({ description: 'Undelivered instances above which new work is refused the same way.' }),
  retainDelivered: z
    .union([z.literal(0), retainKeepConfig])
    .default(0)
    .meta({
      description:
        "What happens to a batch's original spool files once it is delivered and verified in its final project (the hospital " +
        'project): 0 removes them; { mode: keep, maxBytes: N, maxAgeMs: M } keeps them as a local copy, at most N bytes in all ' +
        '(the batches delivered longest ago go first) and, unless maxAgeMs is null (default), for at most M ms (kept copies ' +
        'are also the first to go when the disk falls below minFreeBytes). Quarantined, waiting, failed and undelivered batches ' +
        'always keep theirs until delivered or discarded (`xnat-gateway discard`, POST /series/:id/discard).',
    }),
});

export const seriesConfig = z.strictObject({
  quietPeriodMs: z.number().int().min(0).default(60_000).meta({
    description:
      'A series is complete this long after its last instance, once no association sending to it is open (env XNAT_GATEWAY_SERIES_QUIET_MS).',
  }),
  checkIntervalMs: z.number().int().min(50).default(1000).meta({ description: 'How often completion is checked.' }),
});

export const workersConfig = z.strictObject({
  concurrency: z.number().int().min(1).max(64).default(2).meta({ description: 'Series delivered in parallel.' }),
  maxAttempts: z
    .number()
    .int()
    .min(1)
    .max(100)
    .default(8)
    .meta({ description: 'Attempts per delivery job before it is dead (requeue with `xnat-gateway queue requeue`).' }),
  backoffBaseMs: z
    .number()
    .int()
    .min(1)
    .default(10_000)
    .meta({ description: 'First retry delay; doubles per attempt, with jitter.' }),
  backoffMaxMs: z
    .number()
    .int()
    .min(1)
    .default(15 * 60_000)
    .meta({ description: 'Cap on the retry delay.' }),
  leaseMs: z
    .number()
    .int()
    .min(1000)
    .default(5 * 60_000)
    .meta({ description: 'Job lease; renewed while the job runs, returned to the queue if the process dies.' }),
  pollIntervalMs: z
    .number()
    .int()
    .min(10)
    .default(1000)
    .meta({ description: 'How often idle workers look for due jobs.' }),
  shutdownGraceMs: z
    .number()
    .int()
    .min(0)
    .default(30_000)
    .meta({ description: 'On SIGTERM, how long running jobs may finish before their leases are released.' }),
  maxAgeMs: z
    .number()
    .int()
    .min(60_000)
    .default(7 * 24 * 3_600_000)
    .meta({
      description:
        'A delivery still failing this long after it was queued stops retrying (dead, ERR_JOB_TOO_OLD; requeue to try again). Also bounds how long a series is held while its sink is down.',
    }),
  breaker: z
    .strictObject({
      failureThreshold: z.number().int().min(1).default(5).meta({
        description:
          'Consecutive failures of a sink (unreachable, 5xx, timeouts) that open its circuit; refused credentials open it at once.',
      }),
      openMs: z
        .number()
        .int()
        .min(100)
        .default(30_000)
        .meta({ description: 'Wait before the first probe of an open circuit; doubles after each failed probe.' }),
      maxOpenMs: z
        .number()
        .int()
        .min(100)
        .default(10 * 60_000)
        .meta({ description: 'Longest wait between probes.' }),
    })
    .prefault({})
    .meta({
      description:
        'Per-sink circuit breaker: while a target is down its jobs wait (attempts not used up) and one probe job at a time tests it.',
    }),
});

export const httpConfig = z.strictObject({
  enabled: z.boolean().default(true).meta({ description: 'Run the status server.' }),
  host: z
    .string()
    .default('127.0.0.1')
    .meta({ description: 'Bind address of the status server; keep it on loopback or a management network.' }),
  port: z
    .number()
    .int()
    .min(0)
    .max(65535)
    .default(8090)
    .meta({ description: 'Status server port (env XNAT_GATEWAY_HTTP_PORT).' }),
  adminTokenFile: z.string().min(1).nullable().default(null).meta({
    description:
      'File of bearer tokens for the admin endpoints (POST /series/:id/release, /series/:id/discard, /jobs/:id/requeue; POST /explain too when host is not loopback), one `name:token` (or bare token) per line; must not be readable by others (env XNAT_GATEWAY_ADMIN_TOKEN_FILE). Unset: those endpoints answer 403.',
  }),
  explainMaxBytes: z
    .number()
    .int()
    .min(1024)
    .default(2 * GiB)
    .meta({
      description:
        'Largest upload POST /explain accepts (one DICOM file or a zip); one upload at a time, its space reserved above spool.minFreeBytes first.',
    }),
  auth: z.enum(['actions', 'all']).default('actions').meta({
    description:
      'actions: reading (console pages, GET API) is open to whoever reaches the port, as before; actions (release, requeue, find) need an administrator. all: reading needs sign-in or an admin bearer token too (set it when the port is reachable from a hospital network); /healthz, /readyz and /metrics stay open (env XNAT_GATEWAY_HTTP_AUTH).',
  }),
  passwordFile: z.string().min(1).nullable().default(null).meta({
    description:
      "Console sign-in: `name:scrypt$…` lines made by `xnat-gateway hash-password NAME`; must not be readable by others. The admin token file's `name:token` lines also sign in (the token is the password).",
  }),
  sessionIdleMs: z
    .number()
    .int()
    .min(60_000)
    .default(30 * 60_000)
    .meta({ description: 'A console session unused this long ends (sign in again).' }),
  sessionMaxMs: z
    .number()
    .int()
    .min(60_000)
    .default(12 * 3_600_000)
    .meta({ description: 'A console session ends this long after sign-in, however much it is used.' }),
  secureCookies: z.boolean().default(false).meta({
    description: 'Mark console cookies Secure: set it when people reach the console over HTTPS (a TLS proxy in front).',
  }),
  xnatUrl: z
    .url({ protocol: /^https?$/ })
    .nullable()
    .default(null)
    .meta({
      description:
        'XNAT as people open it in a browser (e.g. https://xnat.hospital.org); the console links each delivered session there. Null: no links.',
    }),
});

export const logConfig = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').meta({
    description:
      'Patient identifiers are only ever logged at debug and below. At debug and trace, errors carry their stack traces; otherwise warnings and info lines hold each error on one line.',
  }),
  format: z.enum(['json', 'pretty']).nullable().default(null).meta({
    description:
      '`json`: one JSON object per line, for journald and log shippers. `pretty`: one readable line per event. Unset: pretty when stdout is a terminal, JSON otherwise (a service, a container, a pipe).',
  }),
  fileNames: z.boolean().default(false).meta({
    description:
      "Name rejected import-folder files in the log. Off by default: drops are often named after patients; the log gives the drop id and file number, and the drop's rejected.json in folder.rejectedDir holds the name.",
  }),
});

export const sinkConfig = z.discriminatedUnion('type', [folderSinkConfig, xnatRestSinkConfig, xnatDimseSinkConfig]);

/**
 * The sources' config keys, one per source type (src/app/registry.ts has one entry per key, checked
 * by the compiler): adding a source adds its schema here and its entry there.
 */
export const sourceConfigs = {
  dimse: dimseConfig.prefault({}),
  folder: folderSourceConfig.prefault({}),
  stow: stowConfig
    .prefault({})
    .meta({ description: 'DICOMweb STOW-RS receiver (docs/stow.md): off unless port is set.' }),
  // Pulls from the PACS nodes listed under the top-level `pacs:` key; off while that list is empty.
  pull: pullConfig.prefault({}).meta({
    description:
      'How pulls from the `pacs` nodes are worked: attempts, backoff, arrival checks, retention of patient data (docs/pull.md).',
  }),
};

/**
 * What a source's config adds to loading (environment variables, a load-time check of the files it
 * names), keyed like `sourceConfigs`; the loader applies every entry the same way.
 */
export const sourceConfigHooks: { readonly [K in keyof SourceConfigs]?: ConfigHooks<SourceConfigs[K]> } = {
  stow: stowConfigHooks,
};

/** The transforms' config keys, one per transform type, in the order the job graph runs them. */
export const transformConfigs = {
  route: routeConfig
    .prefault({})
    .meta({ description: 'The quarantine protocol: which project each completed series goes to (docs/routing.md).' }),
  anonymise: anonymiseConfig.prefault({}),
};

export const configSchema = z.strictObject({
  dataDir: z.string().min(1).default('./data').meta({
    description:
      'Root of the spool, database and default folders (env XNAT_GATEWAY_DATA_DIR). Keep it on a local disk.',
  }),
  nodeId: z
    .string()
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/,
      'letters, digits, ".", "_" or "-", at most 64, starting with a letter or digit',
    )
    .nullable()
    .default(null)
    .meta({
      description:
        "This gateway's name on the leases and associations it records (env XNAT_GATEWAY_NODE_ID): start-up recovery resets only its own. Default: an id generated once and kept in <dataDir>/node-id.",
    }),
  ...sourceConfigs,
  spool: spoolConfig.prefault({}),
  series: seriesConfig.prefault({}),
  ...transformConfigs,
  workers: workersConfig.prefault({}),
  sinks: z
    .array(sinkConfig)
    .min(1)
    .default([{ type: 'folder' }])
    .meta({
      description: 'Where completed series are delivered. Default: the folder sink writing to <dataDir>/outbox.',
    }),
  http: httpConfig.prefault({}),
  notify: notifyConfig.prefault({}).meta({
    description:
      'Notifications when something needs a person: a dead job, a quarantined series, a sink failing for a while, low disk, a refused rules edit, rejected import files (docs/console.md).',
  }),
  pacs: pacsListConfig.meta({
    description: 'PACS nodes studies can be pulled from by accession list (docs/pull.md); none by default.',
  }),
  log: logConfig.prefault({}),
});

export type Config = z.output<typeof configSchema>;
export type SinkConfig = z.output<typeof sinkConfig>;
/** Each source type's config slice. */
export type SourceConfigs = { [K in keyof typeof sourceConfigs]: z.output<(typeof sourceConfigs)[K]> };
/** Each transform type's config slice. */
export type TransformConfigs = { [K in keyof typeof transformConfigs]: z.output<(typeof transformConfigs)[K]> };
