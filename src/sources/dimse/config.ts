//! Configuration of the DIMSE (C-STORE SCP) source.
import { isIP } from 'node:net';
import { z } from 'zod';

const aeTitle = z
  .string()
  .min(1)
  .max(16)
  .regex(
    /^[\x20-\x5b\x5d-\x7e]*[^ ][\x20-\x5b\x5d-\x7e]*$/,
    'an AE title is 1–16 printable ASCII characters, not all spaces, no backslash',
  );

/** An IPv4/IPv6 address or a CIDR block such as 10.1.0.0/16. */
const peer = z.string().refine((s) => {
  const [addr, bits, ...rest] = s.split('/');
  if (rest.length || !addr || !isIP(addr)) {
    return false;
  }
  if (bits === undefined) {
    return true;
  }
  const max = isIP(addr) === 4 ? 32 : 128;
  return /^\d+$/.test(bits) && Number(bits) <= max;
}, 'expected an IP address or CIDR block');

export const dimseConfig = z
  .strictObject({
    enabled: z.boolean().default(true).meta({ description: 'Run the C-STORE SCP.' }),
    host: z.string().default('0.0.0.0').meta({ description: 'Address the SCP binds to.' }),
    port: z
      .number()
      .int()
      .min(0)
      .max(65535)
      .default(8104)
      .meta({ description: 'TCP port (env XNAT_GATEWAY_DIMSE_PORT). 0 picks a free port.' }),
    aeTitle: aeTitle.default('XNAT').meta({
      description: 'Our AE title; other called AE titles are rejected with reason 7 (env XNAT_GATEWAY_AE_TITLE).',
    }),
    acceptAnyCalledAe: z
      .boolean()
      .default(false)
      .meta({ description: 'Accept associations whatever called AE title they use.' }),
    allowedCallingAeTitles: z
      .array(aeTitle)
      .default([])
      .meta({ description: 'If not empty, only these calling AE titles may associate (others: reason 3).' }),
    allowedPeers: z
      .array(peer)
      .default([])
      .meta({ description: 'If not empty, only these IP addresses/CIDR blocks may associate (others: reason 3).' }),
    maxAssociations: z
      .number()
      .int()
      .min(1)
      .max(1000)
      .default(32)
      .meta({ description: 'Concurrent associations; beyond it new ones are rejected transiently (reason 2).' }),
    maxAssociationsPerPeer: z.number().int().min(1).max(1000).default(16).meta({
      description:
        'Concurrent associations from one IP address; beyond it new ones from that address are rejected transiently (reason 2), so one sender cannot take every slot.',
    }),
    maxPendingPerPeer: z.number().int().min(1).max(1000).default(16).meta({
      description:
        'Connections from one IP address that have not finished association negotiation; further connections from it are closed at once, unanswered (they have sent no A-ASSOCIATE-RQ to reject). Keep it at least the number of associations a sender opens at once.',
    }),
    maxConnections: z.number().int().min(1).max(10_000).default(256).meta({
      description:
        'TCP connections in all (negotiating, associated or closing); further connections are closed at once. At least maxAssociations.',
    }),
    artimTimeoutMs: z.number().int().min(100).default(30_000).meta({
      description:
        'Time a new connection has from its TCP connect to complete association negotiation (ARTIM); also how long after our A-ASSOCIATE-RJ, A-RELEASE-RP or A-ABORT the peer has to close, at most 2 s.',
    }),
    idleTimeoutMs: z
      .number()
      .int()
      .min(1000)
      .default(120_000)
      .meta({ description: 'An association with no traffic between messages for this long is aborted.' }),
    minReceiveBytesPer10s: z.number().int().min(0).default(8192).meta({
      description:
        'While a PDU or a DIMSE message is partly received, the peer must send at least this many bytes in every 10 s, or the association is aborted (a trickling sender cannot hold a slot). 0 turns the check off.',
    }),
    maxPduBytes: z
      .number()
      .int()
      .min(4096)
      .max(16 * 1024 * 1024)
      .default(262_144)
      .meta({
        description: 'Largest P-DATA PDU we accept (advertised in A-ASSOCIATE-AC); bigger PDUs abort the association.',
      }),
    maxInstanceBytes: z
      .number()
      .int()
      .min(1)
      .default(16 * 1024 ** 3)
      .meta({ description: 'Largest dataset accepted; bigger ones are refused with 0xA700 and not kept.' }),
  })
  .refine((c) => c.maxConnections >= c.maxAssociations, {
    message: 'must be at least maxAssociations',
    path: ['maxConnections'],
  });
export type DimseConfig = z.output<typeof dimseConfig>;
