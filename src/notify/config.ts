//! Configuration of notifications: which events need a person, and the webhook and e-mail channels.
import { z } from 'zod';

/** Everything that can notify, as `kind` in messages and in a channel's `events` list. */
export const NOTICE_KINDS = [
  'job.dead',
  'series.quarantined',
  'rt.missing-images',
  'circuit.open',
  'disk.low',
  'rules.refused',
  'drop.rejected',
] as const;
export type NoticeKind = (typeof NOTICE_KINDS)[number];

const events = z
  .array(z.enum(NOTICE_KINDS))
  .min(1)
  .default([...NOTICE_KINDS])
  .meta({
    description: `Which events this channel is told about (default all): ${NOTICE_KINDS.join(', ')}.`,
  });
const common = {
  events,
  timeoutMs: z.number().int().min(100).default(10_000).meta({ description: 'One attempt may take this long.' }),
  retries: z.number().int().min(0).max(10).default(3).meta({
    description: 'Retries after a failed attempt (network error, 5xx, 429), waiting retryDelayMs, then doubling.',
  }),
  retryDelayMs: z.number().int().min(10).default(5_000).meta({ description: 'Wait before the first retry.' }),
};

export const webhookChannel = z.strictObject({
  type: z.literal('webhook'),
  url: z.url({ protocol: /^https?$/ }).meta({
    description:
      'Receives a JSON POST per message: a `text` field (Slack and Teams incoming webhooks show it) plus kind, state, title, link and times.',
  }),
  ...common,
});

export const smtpChannel = z
  .strictObject({
    type: z.literal('smtp'),
    host: z.string().min(1).meta({ description: 'SMTP server (the hospital relay).' }),
    port: z.number().int().min(1).max(65535).default(587),
    security: z.enum(['starttls', 'tls', 'none']).default('starttls').meta({
      description:
        'starttls: upgrade the connection and refuse to send without it; tls: TLS from the start (port 465); none: plain (a relay on localhost only).',
    }),
    user: z.string().min(1).nullable().default(null).meta({ description: 'Login name; null: no login.' }),
    passwordFile: z.string().min(1).nullable().default(null).meta({
      description: 'File holding the password (mode 0600; read at every send, so it can be rotated without a restart).',
    }),
    caFile: z
      .string()
      .min(1)
      .nullable()
      .default(null)
      .meta({ description: 'PEM file of the CA that signed the server certificate, when it is not a public one.' }),
    from: z.string().min(3).meta({ description: 'Sender address, e.g. "xnat-gateway <gateway@hospital.org>".' }),
    to: z.array(z.string().min(3)).min(1).meta({ description: 'Recipients.' }),
    ...common,
  })
  .refine((c) => (c.user === null) === (c.passwordFile === null), {
    message: 'user and passwordFile go together',
    path: ['passwordFile'],
  });

export const notifyConfig = z.strictObject({
  consoleUrl: z
    .url({ protocol: /^https?$/ })
    .nullable()
    .default(null)
    .meta({
      description:
        'The console as people reach it (e.g. https://gateway.hospital.org); messages link to its pages. Null: http://<http.host>:<http.port>.',
    }),
  circuitOpenMs: z
    .number()
    .int()
    .min(0)
    .default(15 * 60_000)
    .meta({
      description: 'A sink circuit open (its target failing) longer than this is reported once, and its recovery once.',
    }),
  checkIntervalMs: z
    .number()
    .int()
    .min(100)
    .default(10_000)
    .meta({ description: 'How often disk space, rules reloads, open circuits and finished import drops are checked.' }),
  dedupeMs: z
    .number()
    .int()
    .min(0)
    .default(60 * 60_000)
    .meta({ description: 'The same event (same kind and subject) is sent at most once in this window.' }),
  maxPerHour: z.number().int().min(1).default(20).meta({
    description:
      'Messages per channel per hour; beyond it events are gathered into one summary sent when the budget allows.',
  }),
  channels: z
    .array(z.discriminatedUnion('type', [webhookChannel, smtpChannel]))
    .default([])
    .meta({ description: 'Where messages go; empty: none (the console still lists recent problems).' }),
});

export type NotifyConfig = z.output<typeof notifyConfig>;
export type ChannelConfig = NotifyConfig['channels'][number];
export type WebhookChannelConfig = z.output<typeof webhookChannel>;
export type SmtpChannelConfig = z.output<typeof smtpChannel>;
