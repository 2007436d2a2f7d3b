//! Configuration of PACS nodes (`pacs:`) and of pulls from them (`pull:`).
import { z } from 'zod';

const aeTitle = z
  .string()
  .min(1)
  .max(16)
  .regex(
    /^[\x20-\x5b\x5d-\x7e]*[^ ][\x20-\x5b\x5d-\x7e]*$/,
    'an AE title is 1–16 printable ASCII characters, not all spaces, no backslash',
  );

export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

const clockTime = z.string().regex(/^(([01]\d|2[0-3]):[0-5]\d|24:00)$/, 'a time of day is HH:MM (00:00–24:00)');

export const windowConfig = z.strictObject({
  days: z
    .array(z.enum(WEEKDAYS))
    .min(1)
    .default([...WEEKDAYS])
    .meta({
      description:
        'Days on which the window opens (mon … sun); a window ending after midnight belongs to the day it opens.',
    }),
  from: clockTime.default('00:00').meta({ description: "Opening time, HH:MM in the schedule's time zone." }),
  to: clockTime
    .default('24:00')
    .meta({ description: 'Closing time, HH:MM; at or before `from` the window runs past midnight into the next day.' }),
  maxAssociations: z
    .number()
    .int()
    .min(1)
    .max(64)
    .default(1)
    .meta({ description: "Associations open to this PACS at once (queries and retrieves), like DQR's threads." }),
  maxStudiesInFlight: z.number().int().min(1).max(1000).default(1).meta({
    description: 'Studies being retrieved at once (from the C-MOVE/C-GET until their instances have arrived).',
  }),
  utilisationPercent: z.number().int().min(1).max(100).default(100).meta({
    description:
      "Share of the time this PACS is kept busy, as DQR's utilisation: at 25 %, each operation is followed by a pause three times as long as it took.",
  }),
});

export const scheduleConfig = z.strictObject({
  timeZone: z
    .string()
    .min(1)
    .nullable()
    .default(null)
    .refine((tz) => tz === null || isTimeZone(tz), 'an IANA time zone such as Europe/London')
    .meta({ description: "IANA time zone of the windows; null: the gateway's local time." }),
  windows: z.array(windowConfig).min(1).prefault([{}]).meta({
    description:
      'When the PACS may be used, with the limits of each window; outside every window nothing is sent to it (operations already running finish). Default: always, one association, one study at a time.',
  }),
});

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-GB', { timeZone: tz });
    return true;
  } catch {
    // RangeError: not a time zone Intl knows.
    return false;
  }
}

export const pacsConfig = z.strictObject({
  name: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'a name of letters, digits, _ . -')
    .meta({ description: 'Name used by `pull --pacs NAME`, POST /pulls and the console.' }),
  aeTitle: aeTitle.meta({ description: "The PACS's AE title (called AE)." }),
  host: z.string().min(1).meta({ description: 'Host name or address of the PACS.' }),
  port: z.number().int().min(1).max(65535).meta({ description: 'DICOM port of the PACS.' }),
  callingAe: aeTitle
    .default('XNAT')
    .meta({ description: 'Our AE title towards this PACS (it must know it, and for C-MOVE know where it is).' }),
  retrieve: z.enum(['move', 'get']).default('move').meta({
    description:
      'move: C-MOVE to our C-STORE SCP (the PACS must know our AE title, host and port); get: C-GET, instances come back on the same association (no route back to us needed).',
  }),
  moveDestination: aeTitle.nullable().default(null).meta({
    description:
      "C-MOVE destination AE title; null: callingAe. It must name the gateway's own receiver (dimse.aeTitle) in the PACS's configuration.",
  }),
  retrieveLevel: z.enum(['study', 'series']).default('study').meta({
    description:
      'One C-MOVE/C-GET per study, or one per series. Retries always ask only for the series still incomplete.',
  }),
  schedule: scheduleConfig
    .prefault({})
    .meta({ description: 'When this PACS may be used, and how hard (see pacs[].schedule).' }),
  connectTimeoutMs: z.number().int().min(100).default(10_000).meta({ description: 'TCP connect deadline.' }),
  responseTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(60_000)
    .meta({ description: 'Deadline for association negotiation, C-ECHO and each C-FIND response.' }),
  retrieveIdleTimeoutMs: z
    .number()
    .int()
    .min(1000)
    .default(10 * 60_000)
    .meta({
      description: 'Longest silence between C-MOVE/C-GET responses before the retrieve is aborted and retried.',
    }),
  cancelTimeoutMs: z.number().int().min(100).default(30_000).meta({
    description:
      'After C-CANCEL (pause, cancel, shutdown), how long the PACS has to end the operation before the association is aborted.',
  }),
  maxPduLength: z
    .number()
    .int()
    .min(4096)
    .max(16 * 1024 * 1024)
    .default(262_144)
    .meta({
      description: 'Our receive limit advertised to the PACS (C-GET instances arrive in PDUs of at most this size).',
    }),
});

export const pullConfig = z.strictObject({
  maxAttempts: z.number().int().min(1).max(100).default(5).meta({
    description:
      'Attempts per row and step (query, retrieve) before it ends failed or partial. Attempts lost to an unreachable PACS (circuit open) are not counted.',
  }),
  backoffBaseMs: z
    .number()
    .int()
    .min(1)
    .default(60_000)
    .meta({ description: 'First retry delay of a row; doubles per attempt, with jitter.' }),
  backoffMaxMs: z
    .number()
    .int()
    .min(1)
    .default(30 * 60_000)
    .meta({ description: "Cap on a row's retry delay." }),
  arrivalTimeoutMs: z.number().int().min(100).default(120_000).meta({
    description:
      'After a C-MOVE/C-GET ends, how long the counted instances have to arrive (without progress) before the row is retried; catches a PACS that answers Success but delivers nothing.',
  }),
  arrivalPollMs: z
    .number()
    .int()
    .min(10)
    .default(1000)
    .meta({ description: 'How often arrivals are counted while waiting.' }),
  phiRetentionMs: z
    .number()
    .int()
    .min(0)
    .default(7 * 24 * 3_600_000)
    .meta({
      description:
        'Accession numbers, patient IDs, dates and candidates of a pull are erased from the ledger this long after the pull ended or was cancelled (counts, states and study UIDs stay for the report).',
    }),
  maxRows: z.number().int().min(1).max(100_000).default(20_000).meta({ description: 'Largest list accepted.' }),
  maxFileBytes: z
    .number()
    .int()
    .min(1024)
    .default(20 * 1024 * 1024)
    .meta({
      description: 'Largest list file accepted (CSV or XLSX; for XLSX also the unpacked size of each part read).',
    }),
  verifyIntervalMs: z.number().int().min(1000).default(60_000).meta({
    description:
      'How often rows delivered but not yet verified (XNAT was still building the session) are checked in XNAT again.',
  }),
  reverifyIntervalMs: z
    .number()
    .int()
    .min(60_000)
    .default(24 * 3_600_000)
    .meta({
      description:
        'How often verified rows are checked in XNAT again while their pull is kept; a row whose series XNAT now holds fewer instances of goes back to delivered, flagged in the log.',
    }),
  echoIntervalMs: z
    .number()
    .int()
    .min(1000)
    .default(60_000)
    .meta({ description: 'How often each PACS is sent a C-ECHO for /healthz/pacs, /status and the console.' }),
  echoTimeoutMs: z
    .number()
    .int()
    .min(100)
    .default(10_000)
    .meta({ description: 'Deadline of each C-ECHO (connection, association, answer).' }),
  breaker: z
    .strictObject({
      failureThreshold: z.number().int().min(1).default(3).meta({
        description:
          'Consecutive failures reaching a PACS (refused, timed out, out of resources) that open its circuit.',
      }),
      openMs: z
        .number()
        .int()
        .min(100)
        .default(60_000)
        .meta({ description: 'Wait before the first probe of an open circuit; doubles after each failed probe.' }),
      maxOpenMs: z
        .number()
        .int()
        .min(100)
        .default(30 * 60_000)
        .meta({ description: 'Longest wait between probes.' }),
    })
    .prefault({})
    .meta({
      description:
        'Per-PACS circuit breaker: while a PACS is unreachable its rows wait without using attempts and one probe at a time tests it.',
    }),
});

/** The `pacs:` list: names are unique. */
export const pacsListConfig = z
  .array(pacsConfig)
  .default([])
  .superRefine((list, ctx) => {
    const seen = new Set<string>();
    for (const [i, p] of list.entries()) {
      if (seen.has(p.name)) {
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `PACS name ${p.name} is used twice` });
      }
      seen.add(p.name);
    }
  });

export type WindowConfig = z.output<typeof windowConfig>;
export type ScheduleConfig = z.output<typeof scheduleConfig>;
export type PacsConfig = z.output<typeof pacsConfig>;
export type PullConfig = z.output<typeof pullConfig>;
